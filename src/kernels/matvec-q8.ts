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
 * Only types whose quant-table entry has an int8 decoder (src/quant/gpu-int8-decoders.ts) run
 * here, on devices with the `packed_4x8_integer_dot_product` WGSL language feature; everything
 * else, and prefill's mat-mul, takes the f32 kernels of matmul.ts. `resolveActivations` is the one
 * place that decides which path a model uses.
 */
import matvecQ8Wgsl from '../../shaders/matvec_q8.wgsl?raw';
import quantizeQ8Wgsl from '../../shaders/quantize_q8.wgsl?raw';
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { PACKED_INT8_DOT_FEATURE } from '../gpu/device.ts';
import { createUniformBuffer } from '../gpu/buffers.ts';
import { composeWgsl, definesKey, getPipeline } from '../gpu/pipelines.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { decoderSnippets, gpuBlockGeometry } from '../quant/gpu-decoders.ts';
import { int8DecoderOf } from '../quant/gpu-int8-decoders.ts';
import { getGpuQuantType, quantTypeInfo } from '../quant/table.ts';
import type { GGMLType } from '../quant/types.ts';
import { type BufferRef, grid, isGpuBuffer, type KernelCall, makeBindGroup, refSize } from './common.ts';
import { matmulLayout, type MatmulVariant, resolveVariant, rowsPerWorkgroup } from './matmul.ts';

/** Activation precision of the decode mat-vecs. */
export type ActivationPrecision = 'f32' | 'int8';
/** What a user asks for: `auto` = int8 where the device has int8 dot products, else f32. */
export type ActivationsOption = ActivationPrecision | 'auto';
export const ACTIVATIONS_OPTIONS: readonly ActivationsOption[] = ['auto', 'f32', 'int8'];

export function isActivationsOption(v: unknown): v is ActivationsOption {
  return typeof v === 'string' && (ACTIVATIONS_OPTIONS as readonly string[]).includes(v);
}

/** The activation precision a model runs with on this device (the one place that decides). */
export function resolveActivations(ctx: GpuContext, requested: ActivationsOption = 'auto'): ActivationPrecision {
  if (!isActivationsOption(requested))
    throw new RangeError(`unknown activations '${String(requested)}': use ${ACTIVATIONS_OPTIONS.join(', ')}`);
  if (requested === 'f32') return 'f32';
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
 * Elements per quantized activation block, and its bytes: 32 int8, (d, s, Σq) padded to 16 bytes,
 * then the 64 bytes of SWAR lanes (shaders/quantize_q8.wgsl).
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

function requireFeature(ctx: GpuContext, kernel: string): void {
  if (!ctx.hasPackedInt8Dot) throw new DeviceLimitError(`${kernel} needs the WGSL language feature ${PACKED_INT8_DOT_FEATURE}`);
}

export interface QuantizeQ8Bindings {
  /** f32 activations (cols elements from inputOffset). */
  input: BufferRef;
  /** quantizedActivationBytes(cols) bytes. */
  output: BufferRef;
  /** f32 elements before the first activation (multiple of 4). */
  inputOffset?: number;
}

/** Quantizes `cols` f32 activations to int8 blocks for the int8 mat-vec. */
export function createQuantizeQ8(ctx: GpuContext, o: { cols: number }): { bind(b: QuantizeQ8Bindings): KernelCall } {
  requireFeature(ctx, 'activation quantize');
  checkCols('activation quantize', o.cols);
  const blocks = o.cols / Q8_BLOCK;
  const pipeline = getPipeline(ctx, 'quantize_q8', composeWgsl(quantizeQ8Wgsl), 'main');
  return {
    bind(b: QuantizeQ8Bindings): KernelCall {
      const inputOffset = b.inputOffset ?? 0;
      if (!Number.isSafeInteger(inputOffset) || inputOffset < 0 || inputOffset % 4 !== 0)
        throw new RangeError(`activation quantize: inputOffset must be a multiple of 4, got ${inputOffset}`);
      if (refSize(b.input) < (inputOffset + o.cols) * 4)
        throw new RangeError(`activation quantize: input holds ${refSize(b.input)} bytes, needs ${(inputOffset + o.cols) * 4}`);
      if (refSize(b.output) < quantizedActivationBytes(o.cols))
        throw new RangeError(`activation quantize: output holds ${refSize(b.output)} bytes, needs ${quantizedActivationBytes(o.cols)}`);
      const params = createUniformBuffer(ctx, new Uint32Array([blocks, inputOffset / 4, 0, 0]), 'quantize_q8:params');
      const group = makeBindGroup(ctx, pipeline, 'quantize_q8', [b.input, b.output, params]);
      const [gx, gy] = grid(ctx, Math.ceil(blocks / 64));
      return {
        encode(pass: GPUComputePassEncoder) {
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
   * with dot4I8Packed, 'swar' with u32 multiplies over 16-bit lanes (swar_dot in matvec_q8.wgsl).
   * Default: swar on software devices, where dot4I8Packed is emulated and costs most of the
   * kernel (bench/kernels.ts measures both), dot4 elsewhere. Other types always use dot4.
   */
  products?: Int8Products;
  /** output += W·x rather than output = W·x (a residual add, as matmul.ts's fuse.addOut). */
  addOut?: boolean;
}

export type Int8Products = 'dot4' | 'swar';

export interface MatVecQ8Bindings {
  weight: GpuWeight;
  /** The activations as createQuantizeQ8 wrote them. */
  input: BufferRef;
  output: BufferRef;
  /** f32 elements before the first output. */
  outputOffset?: number;
}

export interface MatVecQ8Kernel {
  readonly variant: MatmulVariant;
  /** How the products are taken. */
  readonly products: Int8Products;
  bind(b: MatVecQ8Bindings): KernelCall;
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
  const geo = gpuBlockGeometry(entry.layout, entry.gpu, o.cols);
  if (o.cols % geo.blockElems !== 0)
    throw new ModelFormatError(
      `int8 mat-vec: ${typeName} rows of ${o.cols} elements are not a multiple of the ${geo.blockElems}-element block`,
    );
  const variant = resolveVariant(ctx, 'matvec', { ...o.variant, shareInput: false });
  const products: Int8Products = dec8.swar ? (o.products ?? (ctx.isSoftware ? 'swar' : 'dot4')) : 'dot4';
  const rowsPerWg = rowsPerWorkgroup(ctx, variant);
  const blocksPerRow = o.cols / geo.blockElems;
  const rowBytes = blocksPerRow * geo.blockBytes;
  const defines = {
    DECODER8: dec8.snippet,
    ALIGNED: geo.aligned,
    USES_W4: geo.usesW4,
    NXB: dec8.xBlocksPerChunk,
    SWAR: products === 'swar',
    MODE_SGROW: variant.mode === 'subgroup-row',
    MODE_THREAD: variant.mode === 'thread-row',
    MODE_WGROW: variant.mode === 'workgroup-row',
    RR: variant.rowsPerThread,
    WG: variant.workgroupSize,
    TPR: variant.mode === 'workgroup-row' ? variant.threadsPerRow : 1,
    ROWS_PER_WG: rowsPerWg,
    ADD_OUT: o.addOut === true,
  };
  const subgroups = variant.mode === 'subgroup-row';
  const snippets = { ...decoderSnippets(entry.gpu), [dec8.snippet]: dec8.source };
  const layout = matmulLayout(ctx, false, geo.usesW4);
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
      if (w.type !== o.type || w.rows !== o.rows || w.cols !== o.cols) {
        throw new ModelFormatError(
          `int8 mat-vec for ${typeName} ${o.rows}×${o.cols} cannot run weight "${w.name}" (${quantTypeInfo(w.type)?.name ?? w.type} ${w.rows}×${w.cols})`,
        );
      }
      if (w.rowBytes !== rowBytes)
        throw new ModelFormatError(`weight "${w.name}": rows of ${w.rowBytes} bytes, the ${typeName} kernel expects ${rowBytes}`);
      const outputOffset = b.outputOffset ?? 0;
      if (!Number.isSafeInteger(outputOffset) || outputOffset < 0)
        throw new RangeError(`int8 mat-vec: outputOffset must be ≥ 0, got ${outputOffset}`);
      if (refSize(b.input) < quantizedActivationBytes(o.cols))
        throw new RangeError(`int8 mat-vec "${w.name}": input holds ${refSize(b.input)} bytes, needs ${quantizedActivationBytes(o.cols)}`);
      if (refSize(b.output) < (outputOffset + o.rows) * 4)
        throw new RangeError(`int8 mat-vec "${w.name}": output holds ${refSize(b.output)} bytes, needs ${(outputOffset + o.rows) * 4}`);
      let scale = 1;
      if (entry.readTensorParams) {
        if (w.tensorScale === undefined || !Number.isFinite(w.tensorScale))
          throw new ModelFormatError(`${typeName} weight "${w.name}" has no per-tensor scale`);
        scale = w.tensorScale;
      }
      let covered = 0;
      const calls = w.parts.map((part, i) => {
        if (part.rowStart !== covered || part.rowCount < 1)
          throw new ModelFormatError(`weight "${w.name}": part ${i} starts at row ${part.rowStart}, expected ${covered}`);
        covered += part.rowCount;
        if (part.buffer.size < part.rowCount * rowBytes) {
          throw new ModelFormatError(
            `weight "${w.name}": part ${i} buffer holds ${part.buffer.size} bytes, ${part.rowCount} rows need ${part.rowCount * rowBytes}`,
          );
        }
        const params = new ArrayBuffer(32);
        const u = new Uint32Array(params);
        u[0] = part.rowCount;
        u[1] = outputOffset + part.rowStart;
        u[2] = 0;
        new Float32Array(params)[3] = scale;
        u[4] = rowBytes;
        u[5] = blocksPerRow * dec8.chunksPerBlock;
        const uniform = createUniformBuffer(ctx, params, `${w.name}#${i}:part8`);
        const entries: GPUBindGroupEntry[] = [
          { binding: 0, resource: { buffer: part.buffer } },
          { binding: 1, resource: isGpuBuffer(b.input) ? { buffer: b.input } : b.input },
          { binding: 2, resource: isGpuBuffer(b.output) ? { buffer: b.output } : b.output },
          { binding: 3, resource: { buffer: uniform } },
        ];
        if (geo.usesW4) entries.push({ binding: 5, resource: { buffer: part.buffer } });
        const group = ctx.device.createBindGroup({ label: `matvec8:${w.name}#${i}`, layout: layout.group, entries });
        const [gx, gy] = grid(ctx, Math.ceil(part.rowCount / rowsPerWg));
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
