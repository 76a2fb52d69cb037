/**
 * Prefill mat-mul with int8 activations (shaders/matmul_tiled_q8.wgsl): the tiled GEMM of
 * matmul-tiled.ts over inputs quantized to int8 per 32-element block as the int8 mat-vec's are
 * (llama.cpp's Q8_1), each row's weight chunk unpacked once by the type's dot8 decoder and used
 * for all the tile's tokens, with exact integer products (dot4I8Packed, or SWAR where the int8 mat-vec
 * uses it).
 *
 *   const mm = createMatMulQ8(ctx, { type, rows, cols, maxTokens }).bind({ weight, input, output, stepParams });
 *   mm.encode(pass, step);
 *
 * The input is f32, as the f32 GEMM's (maxTokens rows of `cols`): each workgroup quantizes the
 * blocks it stages, so there is no quantize dispatch and no int8 copy of the input. Fusions as
 * the f32 GEMM's store (split, addOut) plus glu, which the int8 tile holds gate and up rows for;
 * no normIn (prefill keeps its norm kernel, as with f32 activations).
 */
import matmulTiledQ8Wgsl from '../../shaders/matmul_tiled_q8.wgsl?raw';
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { createUniformBuffer } from '../gpu/buffers.ts';
import { composeWgsl, definesKey, getPipeline } from '../gpu/pipelines.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { gpuBlockGeometry } from '../quant/gpu-decoders.ts';
import { type Int8Decoder, int8DecoderOf } from '../quant/gpu-int8-decoders.ts';
import { getGpuQuantType } from '../quant/table.ts';
import type { GGMLType } from '../quant/types.ts';
import { type BufferRef, dispatchTokens, grid, isGpuBuffer, type KernelCall, refSize } from './common.ts';
import { checkFusion, checkKernelWeight, checkWeightPart, fusionScales, type MatmulFusion, matmulLayout, partParams } from './matmul.ts';
import { type GemmTile, gemmTileCandidates, gemmTileSize, gemmTileStorageBytes } from './matmul-tiled.ts';
import { type Int8Products, int8KernelSnippets, Q8_BLOCK } from './matvec-q8.ts';

export interface MatMulQ8Options {
  type: GGMLType;
  /** Rows of the weight (with fuse.glu, gate and up rows together). */
  rows: number;
  cols: number;
  /** Largest token count per call (prefill chunk). */
  maxTokens: number;
  fuse?: MatmulFusion;
  /** The tile (default: the first of {@link int8GemmTileCandidates}). */
  tile?: GemmTile;
  /** As the int8 mat-vec's (MatVecQ8Options.products): default swar on software devices where the type has it. */
  products?: Int8Products;
}

export interface MatMulQ8Bindings {
  weight: GpuWeight;
  /** maxTokens rows of `cols` f32 activations. */
  input: BufferRef;
  output: BufferRef;
  /** The step-params uniform (word 1 = tokens this call, ≤ maxTokens); without it, maxTokens. */
  stepParams?: BufferRef;
  /** fuse.split: the second and third outputs (token stride = their row count). */
  output1?: BufferRef;
  output2?: BufferRef;
}

export interface MatMulQ8Kernel {
  readonly tile: GemmTile;
  readonly products: Int8Products;
  readonly maxTokens: number;
  bind(b: MatMulQ8Bindings): KernelCall;
}

function int8DecoderFor(type: GGMLType): Int8Decoder {
  const entry = getGpuQuantType(type);
  const dec8 = int8DecoderOf(entry.gpu);
  if (!dec8) throw new ModelFormatError(`int8 mat-mul: ${entry.name} has no int8 decoder; use the f32 mat-mul`);
  return dec8;
}

/** The products a kernel of this decoder takes (MatVecQ8Options.products). */
function productsOf(ctx: GpuContext, dec8: Int8Decoder, requested: Int8Products | undefined): Int8Products {
  return dec8.swar ? (requested ?? (ctx.isSoftware ? 'swar' : 'dot4')) : 'dot4';
}

/**
 * Staged 16-byte words per token and chunk (what load_xq reads of each activation block: codes and
 * scales, or with SWAR scales and lanes), and the unrolled work per row and token, in the f32
 * GEMM's unit (gemmTileCandidates' chunkVec4s). The kernel unrolls a dot8 unpack per row and a
 * dot8 product per row and token, and pipeline compile time grows with the products: counted as
 * 4 vec4s per 32-element activation block (half the f32 decoder's 8), which keeps TQ1_0 (8 blocks
 * a chunk) at 4 rows × 4 tokens.
 */
function chunkWords(dec8: Int8Decoder, products: Int8Products): { staged: number; unrolled: number } {
  return { staged: dec8.xBlocksPerChunk * (products === 'swar' ? 5 : 3), unrolled: dec8.xBlocksPerChunk * 4 };
}

/** The tile shapes the int8 GEMM of `type` can run on this device, default first. */
export function int8GemmTileCandidates(ctx: GpuContext, type: GGMLType, products?: Int8Products): GemmTile[] {
  const dec8 = int8DecoderFor(type);
  const { staged, unrolled } = chunkWords(dec8, productsOf(ctx, dec8, products));
  // No subgroup sharing of the staged reads here: each thread reads its tokens' blocks. This
  // kernel always stages its input (shaders/matmul_tiled_q8.wgsl).
  return gemmTileCandidates(ctx, unrolled, staged)
    .filter((t) => t.stageInput)
    .map((t) => ({ ...t, shareInput: false }));
}

/** Prefill mat-mul Y[t] = W·x̂[t] over int8-quantized activations. */
export function createMatMulQ8(ctx: GpuContext, o: MatMulQ8Options): MatMulQ8Kernel {
  if (!ctx.hasPackedInt8Dot) throw new DeviceLimitError('int8 mat-mul needs the WGSL language feature packed_4x8_integer_dot_product');
  const entry = getGpuQuantType(o.type);
  const typeName = entry.name;
  const dec8 = int8DecoderFor(o.type);
  for (const [field, v] of [
    ['rows', o.rows],
    ['maxTokens', o.maxTokens],
  ] as const)
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`int8 mat-mul: ${field} must be a positive integer, got ${v}`);
  if (!Number.isSafeInteger(o.cols) || o.cols < Q8_BLOCK || o.cols % Q8_BLOCK !== 0)
    throw new RangeError(`int8 mat-mul: cols must be a positive multiple of ${Q8_BLOCK}, got ${o.cols}`);
  const fuse = checkFusion('matmul', o);
  const geo = gpuBlockGeometry(entry.layout, entry.gpu, o.cols);
  if (o.cols % geo.blockElems !== 0)
    throw new ModelFormatError(
      `int8 mat-mul: ${typeName} rows of ${o.cols} elements are not a multiple of the ${geo.blockElems}-element block`,
    );
  const products = productsOf(ctx, dec8, o.products);
  const { staged } = chunkWords(dec8, products);
  const tile = o.tile ?? int8GemmTileCandidates(ctx, o.type, products)[0]!;
  const size = gemmTileSize(tile);
  for (const [field, v] of Object.entries(tile))
    if (field !== 'shareInput' && field !== 'stageInput' && (!Number.isSafeInteger(v) || (v as number) < 1))
      throw new RangeError(`int8 mat-mul tile: ${field} must be a positive integer, got ${String(v)}`);
  if (tile.shareInput) throw new RangeError('int8 mat-mul tile: shareInput is an f32 GEMM option');
  if (!tile.stageInput) throw new RangeError('int8 mat-mul tile: it always stages its input (stageInput: true)');
  if (size.threads > ctx.limits.maxComputeInvocationsPerWorkgroup || size.threads > ctx.limits.maxComputeWorkgroupSizeX)
    throw new DeviceLimitError(`int8 mat-mul tile: ${size.threads} threads exceed the device's workgroup limits`);
  const storage = gemmTileStorageBytes(tile, staged);
  if (storage > ctx.limits.maxComputeWorkgroupStorageSize)
    throw new DeviceLimitError(
      `int8 mat-mul tile: ${storage} bytes of workgroup storage exceed maxComputeWorkgroupStorageSize ${ctx.limits.maxComputeWorkgroupStorageSize}`,
    );
  const blocksPerRow = o.cols / geo.blockElems;
  const rowBytes = geo.rowBytes;
  const outRows = fuse.split ? [...fuse.split] : [fuse.glu ? o.rows / 2 : o.rows];
  const defines = {
    DECODER8: dec8.snippet,
    ALIGNED: geo.aligned,
    USES_W4: geo.usesW4,
    NXB: dec8.xBlocksPerChunk,
    SWAR: products === 'swar',
    RM: tile.rowsPerThread,
    RR: fuse.glu ? 2 * tile.rowsPerThread : tile.rowsPerThread,
    TN: tile.tokensPerThread,
    WT: tile.tokenThreads,
    WG: size.threads,
    BM: size.rows,
    BN: size.tokens,
    INT8_X: false,
    NORM_IN: false,
    GLU: fuse.glu !== undefined,
    ACT: fuse.glu ?? 'silu',
    ADD_OUT: fuse.addOut === true,
    OUT2: outRows.length >= 2,
    OUT3: outRows.length === 3,
    QOUT: false,
  };
  const snippets = int8KernelSnippets(entry.gpu, dec8);
  const pipelineFor = (dynamicT: boolean) => {
    const all = { ...defines, DYNAMIC_T: dynamicT };
    return getPipeline(
      ctx,
      definesKey('matmul-tiled-q8', all, false),
      composeWgsl(matmulTiledQ8Wgsl, { defines: all, snippets }),
      'main',
      undefined,
      { layout: matmulLayout(ctx, dynamicT, geo.usesW4, false, outRows.length).pipeline },
    );
  };
  // Compile the common case now, so errors surface at creation rather than at bind.
  pipelineFor(true);

  return {
    tile,
    products,
    maxTokens: o.maxTokens,
    bind(b: MatMulQ8Bindings): KernelCall {
      const w = b.weight;
      checkKernelWeight('int8 mat-mul', o, w, rowBytes, fuse);
      const inNeed = o.maxTokens * o.cols * 4;
      if (refSize(b.input) < inNeed)
        throw new RangeError(`int8 mat-mul "${w.name}": input holds ${refSize(b.input)} bytes, needs ${inNeed}`);
      const outNeed = o.maxTokens * outRows[0]! * 4;
      if (refSize(b.output) < outNeed)
        throw new RangeError(`int8 mat-mul "${w.name}": output holds ${refSize(b.output)} bytes, needs ${outNeed}`);
      const extra = [b.output1, b.output2].slice(0, outRows.length - 1);
      extra.forEach((ref, i) => {
        const need = o.maxTokens * outRows[i + 1]! * 4;
        if (!ref) throw new RangeError(`int8 mat-mul "${w.name}": a ${outRows.length}-way fuse.split needs bindings.output${i + 1}`);
        if (refSize(ref) < need)
          throw new RangeError(`int8 mat-mul "${w.name}": output${i + 1} holds ${refSize(ref)} bytes, needs ${need}`);
      });
      const dynamicT = b.stepParams !== undefined;
      const pipeline = pipelineFor(dynamicT);
      const layout = matmulLayout(ctx, dynamicT, geo.usesW4, false, outRows.length);
      const scales = fusionScales(w, fuse, o.rows);
      const res = (ref: BufferRef): GPUBindingResource => (isGpuBuffer(ref) ? { buffer: ref } : ref);
      let covered = 0;
      const calls = w.parts.map((part, i) => {
        covered = checkWeightPart(w, i, covered, rowBytes);
        const rows = fuse.glu ? part.rowCount / 2 : part.rowCount;
        const params = partParams({
          rows,
          outBase: part.rowStart,
          inBase4: 0,
          scales,
          rowBytes,
          rowChunks: blocksPerRow * dec8.chunksPerBlock,
          xStride4: o.cols / 4,
          yStride: outRows[0]!,
          maxT: o.maxTokens,
          cols: o.cols,
          fuse,
        });
        const uniform = createUniformBuffer(ctx, params, `${w.name}#${i}:partq8`);
        const entries: GPUBindGroupEntry[] = [
          { binding: 0, resource: { buffer: part.buffer } },
          { binding: 1, resource: res(b.input) },
          { binding: 2, resource: res(b.output) },
          { binding: 3, resource: { buffer: uniform } },
        ];
        if (dynamicT) entries.push({ binding: 4, resource: res(b.stepParams!) });
        if (geo.usesW4) entries.push({ binding: 5, resource: { buffer: part.buffer } });
        extra.forEach((ref, j) => entries.push({ binding: 7 + j, resource: res(ref!) }));
        const group = ctx.device.createBindGroup({ label: `matmul8:${w.name}#${i}`, layout: layout.group, entries });
        const [gx, gy] = grid(ctx, Math.ceil(rows / size.rows));
        return { group, gx, gy };
      });
      if (covered !== o.rows) throw new ModelFormatError(`weight "${w.name}": parts cover ${covered} of ${o.rows} rows`);
      return {
        encode(pass: GPUComputePassEncoder, step) {
          const tiles = Math.ceil((dynamicT ? dispatchTokens(step, o.maxTokens) : o.maxTokens) / size.tokens);
          pass.setPipeline(pipeline);
          for (const c of calls) {
            pass.setBindGroup(0, c.group);
            pass.dispatchWorkgroups(c.gx, c.gy, tiles);
          }
        },
      };
    },
  };
}
