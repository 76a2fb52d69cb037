/**
 * Decode mat-vec with int8 activations (W8A8, W4A8, W1.58A8): the input vector is quantized on
 * the GPU to int8 per 32-element block with one f32 scale and the block sum (llama.cpp's Q8_1),
 * once per input and shared by every linear reading it; the mat-vec then takes the weights' dot
 * products with it four at a time (WGSL dot4I8Packed), summing in i32 within a block.
 *
 *   const quantize = createQuantizeQ8(ctx, { cols }).bind({ input, output: xq });
 *   const mv = createMatVecQ8(ctx, { type, rows, cols }).bind({ weight, input: xq, output });
 *   quantize.encode(pass); mv.encode(pass);     // every step; creates nothing
 *
 * The mat-vec has the f32 mat-vec's fusions (options.fuse, as matmul.ts): a norm whose weight the
 * quantizer applied (createQuantizeQ8's `norm`; the mat-vec applies 1/rms at its store from the
 * blocks' sums of squares), gate·up with the activation, the Q/K/V split and the residual add.
 * And one of its own, `quantizeOut`: it quantizes what it stores (times the next linear's norm
 * weight) into int8 blocks for the next int8 mat-vec, which then needs no quantize dispatch.
 *
 * With `tokens` > 1 (a batched decode step, src/runtime/batch-decode.ts: one row per sequence)
 * both quantize and mat-vec take that many rows at once, the mat-vec reading each weight chunk
 * once for all of them; each row's results are bit-identical to those of a one-token kernel.
 *
 * Only types whose quant-table entry has an int8 decoder (src/quant/gpu-int8-decoders.ts) run
 * here, on devices with the `packed_4x8_integer_dot_product` WGSL language feature; everything
 * else, and prefill's mat-mul, takes the f32 kernels of matmul.ts. `resolveActivations` is the one
 * place that decides which path a model uses.
 */
import matvecQ8Wgsl from '../../shaders/matvec_q8.wgsl?raw';
import quantizeQ8Wgsl from '../../shaders/quantize_q8.wgsl?raw';
import actWgsl from '../../shaders/common/act.wgsl?raw';
import matmulIoWgsl from '../../shaders/common/matmul_io.wgsl?raw';
import q8BlockWgsl from '../../shaders/common/q8_block.wgsl?raw';
import q8DotWgsl from '../../shaders/common/q8_dot.wgsl?raw';
import q8QuantWgsl from '../../shaders/common/q8_quant.wgsl?raw';
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { PACKED_INT8_DOT_FEATURE } from '../gpu/device.ts';
import { createUniformBuffer } from '../gpu/buffers.ts';
import { composeWgsl, definesKey, getPipeline } from '../gpu/pipelines.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { decoderSnippets, type GpuDecoder, gpuBlockGeometry } from '../quant/gpu-decoders.ts';
import { type Int8Decoder, int8DecoderOf } from '../quant/gpu-int8-decoders.ts';
import { getGpuQuantType } from '../quant/table.ts';
import type { GGMLType } from '../quant/types.ts';
import { type BufferRef, dispatchTokens, grid, isGpuBuffer, type KernelCall, makeBindGroup, refSize } from './common.ts';
import {
  checkFusion,
  checkKernelWeight,
  checkWeightPart,
  fusionScales,
  type MatmulFusion,
  matmulLayout,
  type MatmulVariant,
  partParams,
  resolveVariant,
  rowsPerWorkgroup,
} from './matmul.ts';

/**
 * Activation precision of the mat-vecs: f32, int8 (decode's mat-vecs read int8 blocks), or ggml:
 * the f32 kernels reading each linear's input rounded as llama.cpp's CPU backend rounds it for
 * that weight type (kernels/ggml-round.ts), so a run matches llama.cpp's run of a quantized file
 * rather than of its F32 twin. ggml is a parity/verification mode (extra dispatches, norms not
 * fused), never chosen by auto.
 */
export type ActivationPrecision = 'f32' | 'int8' | 'ggml';
/** What a user asks for: `auto` = int8 where the device has int8 dot products, else f32. */
export type ActivationsOption = ActivationPrecision | 'auto';
export const ACTIVATIONS_OPTIONS: readonly ActivationsOption[] = ['auto', 'f32', 'int8', 'ggml'];

export function isActivationsOption(v: unknown): v is ActivationsOption {
  return typeof v === 'string' && (ACTIVATIONS_OPTIONS as readonly string[]).includes(v);
}

/** The activation precision a model runs with on this device (the one place that decides). */
export function resolveActivations(ctx: GpuContext, requested: ActivationsOption = 'auto'): ActivationPrecision {
  if (!isActivationsOption(requested))
    throw new RangeError(`unknown activations '${String(requested)}': use ${ACTIVATIONS_OPTIONS.join(', ')}`);
  if (requested === 'f32' || requested === 'ggml') return requested;
  if (ctx.hasPackedInt8Dot) return 'int8';
  if (requested === 'int8') {
    throw new DeviceLimitError(
      `activations 'int8' need the WGSL language feature ${PACKED_INT8_DOT_FEATURE}, which this device lacks; use f32 or auto`,
    );
  }
  return 'f32';
}

/** Whether weights of this type have an int8-activation mat-vec. */
export function hasInt8MatVec(type: GGMLType): boolean {
  return int8DecoderOf(getGpuQuantType(type).gpu) !== undefined;
}

/**
 * Elements per quantized activation block, and its bytes: 32 int8, (d, s, Σq, Σx²) in 16 bytes,
 * then the 64 bytes of SWAR lanes (shaders/common/q8_block.wgsl).
 */
export const Q8_BLOCK = 32;
export const Q8_BLOCK_BYTES = 112;

/** Bytes of `cols` activations quantized (cols a multiple of 32). */
export function quantizedActivationBytes(cols: number): number {
  return Math.ceil(cols / Q8_BLOCK) * Q8_BLOCK_BYTES;
}

function checkCols(kernel: string, cols: number): void {
  if (!Number.isSafeInteger(cols) || cols < Q8_BLOCK || cols % Q8_BLOCK !== 0)
    throw new RangeError(`${kernel}: cols must be a positive multiple of ${Q8_BLOCK}, got ${cols}`);
}

/** A token count option (default 1): rows of a batched decode step. */
function checkTokens(kernel: string, tokens = 1): number {
  if (!Number.isSafeInteger(tokens) || tokens < 1 || tokens > MAX_Q8_TOKENS)
    throw new RangeError(`${kernel}: tokens must be an integer in 1…${MAX_Q8_TOKENS}, got ${tokens}`);
  return tokens;
}

/**
 * Most tokens one int8 mat-vec takes at once: each thread holds a sum per token and weight row in
 * registers (and a chunk of activations per token).
 */
export const MAX_Q8_TOKENS = 8;

function requireFeature(ctx: GpuContext, kernel: string): void {
  if (!ctx.hasPackedInt8Dot) throw new DeviceLimitError(`${kernel} needs the WGSL language feature ${PACKED_INT8_DOT_FEATURE}`);
}

export interface QuantizeQ8Bindings {
  /** f32 activations (tokens rows of cols elements from inputOffset). */
  input: BufferRef;
  /** tokens × quantizedActivationBytes(cols) bytes. */
  output: BufferRef;
  /** f32 elements before the first activation (multiple of 4). */
  inputOffset?: number;
  /** With `norm`: the norm's weight, cols f32. */
  normWeight?: BufferRef;
}

/**
 * Quantizes `cols` f32 activations to int8 blocks for the int8 mat-vec. With `norm`, quantizes
 * normWeight∘x and keeps each block's Σx², for a mat-vec with fuse.normIn (an RMSNorm's 1/rms).
 * With `tokens` (default 1), that many rows of cols, one after the other; a call encoded with a
 * step quantizes the step's rows.
 */
export function createQuantizeQ8(
  ctx: GpuContext,
  o: { cols: number; norm?: boolean; tokens?: number },
): { bind(b: QuantizeQ8Bindings): KernelCall } {
  requireFeature(ctx, 'activation quantize');
  checkCols('activation quantize', o.cols);
  const tokens = checkTokens('activation quantize', o.tokens);
  const rowBlocks = o.cols / Q8_BLOCK;
  const blocks = tokens * rowBlocks;
  const norm = o.norm === true;
  const pipeline = getPipeline(
    ctx,
    definesKey('quantize_q8', { NORM: norm }, false),
    composeWgsl(quantizeQ8Wgsl, { defines: { NORM: norm }, snippets: { q8_block: q8BlockWgsl, q8_quant: q8QuantWgsl } }),
    'main',
  );
  return {
    bind(b: QuantizeQ8Bindings): KernelCall {
      const inputOffset = b.inputOffset ?? 0;
      if (!Number.isSafeInteger(inputOffset) || inputOffset < 0 || inputOffset % 4 !== 0)
        throw new RangeError(`activation quantize: inputOffset must be a multiple of 4, got ${inputOffset}`);
      if (refSize(b.input) < (inputOffset + tokens * o.cols) * 4)
        throw new RangeError(`activation quantize: input holds ${refSize(b.input)} bytes, needs ${(inputOffset + tokens * o.cols) * 4}`);
      const outBytes = tokens * quantizedActivationBytes(o.cols);
      if (refSize(b.output) < outBytes)
        throw new RangeError(`activation quantize: output holds ${refSize(b.output)} bytes, needs ${outBytes}`);
      if (norm && !(b.normWeight && refSize(b.normWeight) >= o.cols * 4))
        throw new RangeError(`activation quantize: a normed quantize needs a normWeight of ${o.cols * 4} bytes`);
      const params = createUniformBuffer(ctx, new Uint32Array([blocks, inputOffset / 4, rowBlocks, 0]), 'quantize_q8:params');
      const group = makeBindGroup(
        ctx,
        pipeline,
        'quantize_q8',
        norm ? [b.input, b.output, params, b.normWeight!] : [b.input, b.output, params],
      );
      // The grid of each row count, made here so a step creates nothing.
      const grids = Array.from({ length: tokens }, (_, n) => grid(ctx, Math.ceil(((n + 1) * rowBlocks) / 64)));
      return {
        encode(pass: GPUComputePassEncoder, step) {
          const [gx, gy] = grids[dispatchTokens(step, tokens) - 1]!;
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(gx, gy);
        },
      };
    },
  };
}

export interface MatVecQ8Options {
  type: GGMLType;
  rows: number;
  cols: number;
  /** Force parts of the variant (mode, workgroup size, rows per thread); input sharing is not used. */
  variant?: Partial<MatmulVariant>;
  /**
   * Types with codes of ≤ 4 bits (Q4_0, Q4_1, Q4_K, the ternary ones): 'dot4' takes the products
   * with dot4I8Packed, 'swar' with u32 multiplies over 16-bit lanes (swar_dot in common/q8_dot.wgsl).
   * Default: swar on software devices, where dot4I8Packed is emulated and costs most of the
   * kernel (bench/kernels.ts measures both), dot4 elsewhere. Other types always use dot4.
   */
  products?: Int8Products;
  /**
   * The f32 mat-vec's fusions (matmul.ts). normIn: the input was quantized with createQuantizeQ8's
   * `norm` (so no normWeight binding here); its eps is applied at the store.
   */
  fuse?: MatmulFusion;
  /**
   * Also quantize the stored outputs (after the fusions: the new residual with addOut, act(gate)·up
   * with glu) into int8 blocks for the next int8 mat-vec: 'plain' as they are, 'normed' times a
   * norm weight (that mat-vec's fuse.normIn). Needs whole 32-row blocks per workgroup
   * ({@link canQuantizeOut}); not with fuse.split.
   */
  quantizeOut?: 'plain' | 'normed';
  /**
   * Tokens (default 1): rows of a batched decode step, each row's input quantizedActivationBytes(cols)
   * after the last, each row's outputs (and quantized outputs) one output row further. Each weight
   * chunk is read once for all of them; a row's results are those of the one-token kernel, bit for bit.
   */
  tokens?: number;
}

export type Int8Products = 'dot4' | 'swar';

export interface MatVecQ8Bindings {
  weight: GpuWeight;
  /** The activations as createQuantizeQ8 wrote them. */
  input: BufferRef;
  output: BufferRef;
  /** f32 elements before the first output. */
  outputOffset?: number;
  /** fuse.split: the second and third outputs. */
  output1?: BufferRef;
  output2?: BufferRef;
  /** quantizeOut: where the quantized outputs go (quantizedActivationBytes(rows)). */
  quantizedOutput?: BufferRef;
  /** quantizeOut 'normed': the norm weight the outputs are multiplied by (rows f32). */
  quantizeNormWeight?: BufferRef;
}

export interface MatVecQ8Kernel {
  readonly variant: MatmulVariant;
  /** How the products are taken. */
  readonly products: Int8Products;
  bind(b: MatVecQ8Bindings): KernelCall;
}

/** Rows per workgroup of the int8 mat-vec variant (a quantizing store needs a multiple of 32). */
function int8Variant(ctx: GpuContext, forced: Partial<MatmulVariant> | undefined): { variant: MatmulVariant; rowsPerWg: number } {
  const variant = resolveVariant(ctx, 'matvec', { ...forced, shareInput: false });
  return { variant, rowsPerWg: rowsPerWorkgroup(ctx, variant) };
}

/**
 * Whether an int8 mat-vec over `weight` can take `quantizeOut`: each workgroup (and each weight
 * part) must cover whole 32-row blocks of the output.
 */
export function canQuantizeOut(
  ctx: GpuContext,
  weight: { rows: number; parts: readonly { rowStart: number }[] },
  fuse: MatmulFusion = {},
  forced?: Partial<MatmulVariant>,
): boolean {
  if (fuse.split) return false;
  const outRows = fuse.glu ? weight.rows / 2 : weight.rows;
  const { rowsPerWg } = int8Variant(ctx, forced);
  if (rowsPerWg % Q8_BLOCK !== 0 || outRows % Q8_BLOCK !== 0) return false;
  return fuse.glu ? weight.parts.length === 1 : weight.parts.every((p) => p.rowStart % Q8_BLOCK === 0);
}

/**
 * The `#include` snippets of a kernel over int8 activations (the int8 mat-vec, the int8 GEMM): the
 * weight type's decoders and block_at, its int8 decoder, and the shared activation, store, int8
 * block, quantizer and product code.
 */
export function int8KernelSnippets(decoder: GpuDecoder, dec8: Int8Decoder): Record<string, string> {
  return {
    ...decoderSnippets(decoder),
    [dec8.snippet]: dec8.source,
    act: actWgsl,
    matmul_io: matmulIoWgsl,
    q8_block: q8BlockWgsl,
    q8_quant: q8QuantWgsl,
    q8_dot: q8DotWgsl,
  };
}

/** Decode mat-vec y = W·x over int8-quantized activations. */
export function createMatVecQ8(ctx: GpuContext, o: MatVecQ8Options): MatVecQ8Kernel {
  requireFeature(ctx, 'int8 mat-vec');
  const entry = getGpuQuantType(o.type);
  const typeName = entry.name;
  const dec8 = int8DecoderOf(entry.gpu);
  if (!dec8) throw new ModelFormatError(`int8 mat-vec: ${typeName} has no int8 decoder; use the f32 mat-vec`);
  if (!Number.isSafeInteger(o.rows) || o.rows < 1) throw new RangeError(`int8 mat-vec: rows must be a positive integer, got ${o.rows}`);
  checkCols('int8 mat-vec', o.cols);
  const tokens = checkTokens('int8 mat-vec', o.tokens);
  const fuse = checkFusion('matvec', o);
  const geo = gpuBlockGeometry(entry.layout, entry.gpu, o.cols);
  if (o.cols % geo.blockElems !== 0)
    throw new ModelFormatError(
      `int8 mat-vec: ${typeName} rows of ${o.cols} elements are not a multiple of the ${geo.blockElems}-element block`,
    );
  const { variant, rowsPerWg } = int8Variant(ctx, o.variant);
  const products: Int8Products = dec8.swar ? (o.products ?? (ctx.isSoftware ? 'swar' : 'dot4')) : 'dot4';
  const blocksPerRow = o.cols / geo.blockElems;
  const rowBytes = geo.rowBytes;
  const outRows = fuse.split ? [...fuse.split] : [fuse.glu ? o.rows / 2 : o.rows];
  const quantOut = o.quantizeOut ?? 'none';
  if (quantOut !== 'none' && !canQuantizeOut(ctx, { rows: o.rows, parts: [{ rowStart: 0 }] }, fuse, o.variant))
    throw new RangeError(
      `int8 mat-vec: quantizeOut needs whole ${Q8_BLOCK}-row blocks per workgroup (${rowsPerWg} rows) and output, and no split`,
    );
  const defines = {
    DECODER8: dec8.snippet,
    ALIGNED: geo.aligned,
    USES_W4: geo.usesW4,
    NXB: dec8.xBlocksPerChunk,
    SWAR: products === 'swar',
    MODE_SGROW: variant.mode === 'subgroup-row',
    MODE_THREAD: variant.mode === 'thread-row',
    MODE_WGROW: variant.mode === 'workgroup-row',
    RR: fuse.glu ? 2 * variant.rowsPerThread : variant.rowsPerThread,
    RH: variant.rowsPerThread,
    WG: variant.workgroupSize,
    TPR: variant.mode === 'workgroup-row' ? variant.threadsPerRow : 1,
    ROWS_PER_WG: rowsPerWg,
    NT: tokens,
    DYNAMIC_T: false,
    INT8_X: true,
    NORM_IN: fuse.normIn !== undefined,
    GLU: fuse.glu !== undefined,
    ACT: fuse.glu ?? 'silu',
    ADD_OUT: fuse.addOut === true,
    OUT2: outRows.length >= 2,
    OUT3: outRows.length === 3,
    QOUT: quantOut !== 'none',
    QOUT_NORM: quantOut === 'normed',
  };
  const subgroups = variant.mode === 'subgroup-row';
  const snippets = int8KernelSnippets(entry.gpu, dec8);
  const layout = matmulLayout(ctx, false, geo.usesW4, false, outRows.length, quantOut);
  const pipeline = getPipeline(
    ctx,
    definesKey('matvec_q8', defines, subgroups),
    composeWgsl(matvecQ8Wgsl, { subgroups, defines, snippets }),
    'main',
    undefined,
    { layout: layout.pipeline },
  );
  return {
    variant,
    products,
    bind(b: MatVecQ8Bindings): KernelCall {
      const w = b.weight;
      checkKernelWeight('int8 mat-vec', o, w, rowBytes, fuse);
      if (quantOut !== 'none' && !canQuantizeOut(ctx, w, fuse, o.variant))
        throw new ModelFormatError(`weight "${w.name}": its parts do not start at whole ${Q8_BLOCK}-row blocks, as quantizeOut needs`);
      const outputOffset = b.outputOffset ?? 0;
      if (!Number.isSafeInteger(outputOffset) || outputOffset < 0 || (quantOut !== 'none' && outputOffset % Q8_BLOCK !== 0))
        throw new RangeError(
          `int8 mat-vec: outputOffset must be ≥ 0${quantOut !== 'none' ? ' and whole blocks' : ''}, got ${outputOffset}`,
        );
      const inBytes = tokens * quantizedActivationBytes(o.cols);
      if (refSize(b.input) < inBytes)
        throw new RangeError(`int8 mat-vec "${w.name}": input holds ${refSize(b.input)} bytes, needs ${inBytes}`);
      // Token t's outputs start outRows[0] (outRows[i] in output i) after token t − 1's.
      const outEnd = outputOffset + tokens * outRows[0]!;
      if (refSize(b.output) < outEnd * 4)
        throw new RangeError(`int8 mat-vec "${w.name}": output holds ${refSize(b.output)} bytes, needs ${outEnd * 4}`);
      const extra = [b.output1, b.output2].slice(0, outRows.length - 1);
      extra.forEach((ref, i) => {
        const need = tokens * outRows[i + 1]! * 4;
        if (!ref) throw new RangeError(`int8 mat-vec "${w.name}": a ${outRows.length}-way fuse.split needs bindings.output${i + 1}`);
        if (refSize(ref) < need)
          throw new RangeError(`int8 mat-vec "${w.name}": output${i + 1} holds ${refSize(ref)} bytes, needs ${need}`);
      });
      const quantOutputs: BufferRef[] = [];
      if (quantOut !== 'none') {
        const need = quantizedActivationBytes(outEnd);
        if (!b.quantizedOutput || refSize(b.quantizedOutput) < need)
          throw new RangeError(`int8 mat-vec "${w.name}": quantizeOut needs a quantizedOutput of ${need} bytes`);
        quantOutputs.push(b.quantizedOutput);
        if (quantOut === 'normed') {
          const needG = (outputOffset + outRows[0]!) * 4;
          if (!b.quantizeNormWeight || refSize(b.quantizeNormWeight) < needG)
            throw new RangeError(`int8 mat-vec "${w.name}": quantizeOut 'normed' needs a quantizeNormWeight of ${needG} bytes`);
          quantOutputs.push(b.quantizeNormWeight);
        }
      }
      const scales = fusionScales(w, fuse, o.rows);
      let covered = 0;
      const calls = w.parts.map((part, i) => {
        covered = checkWeightPart(w, i, covered, rowBytes);
        const rows = fuse.glu ? part.rowCount / 2 : part.rowCount;
        const params = partParams({
          rows,
          outBase: outputOffset + part.rowStart,
          inBase4: 0,
          scales,
          rowBytes,
          rowChunks: blocksPerRow * dec8.chunksPerBlock,
          xStride4: quantizedActivationBytes(o.cols) / 16,
          yStride: outRows[0]!,
          maxT: tokens,
          cols: o.cols,
          fuse,
        });
        const uniform = createUniformBuffer(ctx, params, `${w.name}#${i}:part8`);
        const res = (ref: BufferRef): GPUBindingResource => (isGpuBuffer(ref) ? { buffer: ref } : ref);
        const entries: GPUBindGroupEntry[] = [
          { binding: 0, resource: { buffer: part.buffer } },
          { binding: 1, resource: res(b.input) },
          { binding: 2, resource: res(b.output) },
          { binding: 3, resource: { buffer: uniform } },
        ];
        if (geo.usesW4) entries.push({ binding: 5, resource: { buffer: part.buffer } });
        extra.forEach((ref, j) => entries.push({ binding: 7 + j, resource: res(ref!) }));
        quantOutputs.forEach((ref, j) => entries.push({ binding: 9 + j, resource: res(ref) }));
        const group = ctx.device.createBindGroup({ label: `matvec8:${w.name}#${i}`, layout: layout.group, entries });
        const [gx, gy] = grid(ctx, Math.ceil(rows / rowsPerWg));
        return { group, gx, gy };
      });
      if (covered !== o.rows) throw new ModelFormatError(`weight "${w.name}": parts cover ${covered} of ${o.rows} rows`);
      return {
        encode(pass: GPUComputePassEncoder) {
          pass.setPipeline(pipeline);
          for (const c of calls) {
            pass.setBindGroup(0, c.group);
            pass.dispatchWorkgroups(c.gx, c.gy);
          }
        },
      };
    },
  };
}
