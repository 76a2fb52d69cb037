/**
 * Fused dequant mat-vec (decode: y = W·x) and mat-mul (prefill: Y = X·Wᵀ for T tokens) over
 * weights still quantized in GPU memory, for every type in matmul-decoders.ts.
 *
 *   const mv = createMatVec(ctx, { type, rows, cols });
 *   const call = mv.bind({ weight, input, output });   // bind groups + per-part uniforms, once
 *   call.encode(pass);                                  // every step; creates nothing
 *
 *   const mm = createMatMul(ctx, { type, rows, cols, maxTokens: 64 });
 *   const call = mm.bind({ weight, input, output, stepParams }); // T = stepParams word 1 (≤ maxTokens)
 *
 * Mat-mul reads the real token count from the caller's step-params uniform (word 1, as
 * src/kernels/step-params.ts writes it), so one bind group serves every prefill chunk; it
 * dispatches ceil(maxTokens / TT) token tiles and tiles past T return at once. Without
 * stepParams the token count is maxTokens.
 *
 * Layouts: input token t at inputOffset + t·inputStride (f32 elements; offset and stride multiples
 * of 4, the shader reads vec4s), output token t at outputOffset + t·outputStride.
 * A weight split into parts gets one dispatch per part, each writing its own rows.
 */
import matmulWgsl from '../../shaders/matmul.wgsl?raw';
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { createUniformBuffer } from '../gpu/buffers.ts';
import { composeWgsl, getPipeline } from '../gpu/pipelines.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { GGMLType } from '../quant/types.ts';
import { type BufferRef, grid, isGpuBuffer, type KernelCall, refSize } from './common.ts';
import { blockGeometry, matmulDecoder } from './matmul-decoders.ts';

/** How the work is split; defaults come from {@link defaultMatmulVariant}. */
export interface MatmulVariant {
  /** Reduce each row with subgroupAdd (a subgroup per row) instead of workgroup memory. */
  subgroups: boolean;
  /** Threads per workgroup. */
  workgroupSize: number;
  /** Rows per workgroup. With subgroups any value works (subgroups loop over the rows); without, workgroupSize = rowsPerWorkgroup · threadsPerRow. */
  rowsPerWorkgroup: number;
  /** Threads sharing a row without subgroups (1 = a thread per row, no reduction). */
  threadsPerRow: number;
  /** Tokens each thread accumulates (mat-mul); every decoded chunk is reused TT times. */
  tokensPerThread: number;
}

export interface MatVecOptions {
  type: GGMLType;
  rows: number;
  cols: number;
  /** Force parts of the variant (tests force subgroups on and off). */
  variant?: Partial<MatmulVariant>;
}

export interface MatMulOptions extends MatVecOptions {
  /** Largest token count per call (prefill chunk). */
  maxTokens: number;
  /** f32 elements between tokens' inputs (default cols). */
  inputStride?: number;
  /** f32 elements between tokens' outputs (default rows). */
  outputStride?: number;
}

export interface MatmulBindings {
  weight: GpuWeight;
  input: BufferRef;
  output: BufferRef;
  /** f32 elements before token 0's input (multiple of 4). */
  inputOffset?: number;
  /** f32 elements before token 0's output. */
  outputOffset?: number;
  /** Mat-mul only: the step-params uniform (word 1 = tokens this call, ≤ maxTokens). */
  stepParams?: BufferRef;
}

export interface MatmulKernel {
  readonly variant: MatmulVariant;
  readonly maxTokens: number;
  bind(b: MatmulBindings): KernelCall;
}

/**
 * Variant choice. Subgroups whenever the device has them (a subgroupAdd per row, no workgroup
 * memory or barrier). Rows per workgroup = workgroupSize / smallest subgroup size, so every
 * subgroup has a row even at the smallest size (SwiftShader: size 4 → 16 rows of a 64-thread
 * workgroup). Without subgroups: software devices take a thread per row (no barrier at all —
 * barriers are expensive on SwiftShader), GPUs 16 threads per row with one barrier.
 * Mat-mul: 8 tokens per thread (each decoded chunk feeds 8 dot products).
 */
export function defaultMatmulVariant(ctx: GpuContext, op: 'matvec' | 'matmul'): MatmulVariant {
  const subgroups = ctx.hasSubgroups;
  const workgroupSize = 64;
  const tokensPerThread = op === 'matvec' ? 1 : 8;
  if (subgroups) {
    const sgMin = ctx.subgroupMinSize > 0 ? ctx.subgroupMinSize : 32;
    return { subgroups, workgroupSize, rowsPerWorkgroup: Math.max(1, Math.floor(workgroupSize / sgMin)), threadsPerRow: 0, tokensPerThread };
  }
  const threadsPerRow = ctx.isSoftware ? 1 : 16;
  return { subgroups, workgroupSize, rowsPerWorkgroup: workgroupSize / threadsPerRow, threadsPerRow, tokensPerThread };
}

function resolveVariant(ctx: GpuContext, op: 'matvec' | 'matmul', forced: Partial<MatmulVariant> | undefined): MatmulVariant {
  const base = defaultMatmulVariant({ ...ctx, hasSubgroups: forced?.subgroups ?? ctx.hasSubgroups } as GpuContext, op);
  const v: MatmulVariant = { ...base, ...forced };
  if (v.subgroups && !ctx.hasSubgroups) throw new DeviceLimitError(`mat-vec: subgroups requested but the device has no 'subgroups' feature`);
  if (!v.subgroups && forced && (forced.threadsPerRow !== undefined || forced.workgroupSize !== undefined) && forced.rowsPerWorkgroup === undefined) {
    v.rowsPerWorkgroup = Math.max(1, Math.floor(v.workgroupSize / v.threadsPerRow));
  }
  if (!v.subgroups && v.workgroupSize !== v.rowsPerWorkgroup * v.threadsPerRow) {
    throw new RangeError(`mat-vec variant: workgroupSize ${v.workgroupSize} ≠ rowsPerWorkgroup ${v.rowsPerWorkgroup} × threadsPerRow ${v.threadsPerRow}`);
  }
  if (v.workgroupSize > ctx.limits.maxComputeInvocationsPerWorkgroup) {
    throw new DeviceLimitError(`mat-vec: workgroup of ${v.workgroupSize} exceeds maxComputeInvocationsPerWorkgroup ${ctx.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  if (op === 'matvec') v.tokensPerThread = 1;
  return v;
}

function checkInt(field: string, v: number, min: number, multipleOf = 1): void {
  if (!Number.isSafeInteger(v) || v < min || v % multipleOf !== 0) {
    throw new RangeError(`mat-vec: ${field} must be an integer ≥ ${min}${multipleOf > 1 ? ` and a multiple of ${multipleOf}` : ''}, got ${v}`);
  }
}

function createKernel(ctx: GpuContext, op: 'matvec' | 'matmul', o: MatMulOptions): MatmulKernel {
  const decoder = matmulDecoder(o.type);
  const typeName = GGMLType[o.type];
  checkInt('rows', o.rows, 1);
  checkInt('cols', o.cols, 4, 4);
  checkInt('maxTokens', o.maxTokens, 1);
  const geo = blockGeometry(decoder, o.cols);
  if (o.cols % geo.blockElems !== 0) {
    throw new ModelFormatError(`mat-vec: ${typeName} rows of ${o.cols} elements are not a multiple of the ${geo.blockElems}-element block`);
  }
  const inputStride = o.inputStride ?? o.cols;
  const outputStride = o.outputStride ?? o.rows;
  checkInt('inputStride', inputStride, o.cols, 4);
  checkInt('outputStride', outputStride, o.rows);
  const variant = resolveVariant(ctx, op, o.variant);
  const tt = variant.tokensPerThread;
  checkInt('tokensPerThread', tt, 1);
  const blocksPerRow = o.cols / geo.blockElems;
  const rowBytes = blocksPerRow * geo.blockBytes;
  const defines = {
    DECODER: decoder.snippet,
    ALIGNED: geo.aligned,
    FB: decoder.float ? geo.blockElems : 0,
    TT: tt,
    WG: variant.workgroupSize,
    RPW: variant.rowsPerWorkgroup,
    TPR: variant.subgroups ? 0 : variant.threadsPerRow,
    ROW_BYTES: rowBytes,
    ROW_CHUNKS: blocksPerRow * decoder.chunksPerBlock,
    XSTRIDE4: inputStride / 4,
    YSTRIDE: outputStride,
  };
  const baseKey = `matmul:${typeName}:c${o.cols}:xs${inputStride}:ys${outputStride}:tt${tt}:wg${variant.workgroupSize}:rpw${variant.rowsPerWorkgroup}:tpr${defines.TPR}:${variant.subgroups ? 'sg' : 'nosg'}`;
  const pipelineFor = (dynamicT: boolean) =>
    getPipeline(
      ctx,
      `${baseKey}:${dynamicT ? 'dynT' : `T${o.maxTokens}`}`,
      composeWgsl(matmulWgsl, { subgroups: variant.subgroups, defines: { ...defines, DYNAMIC_T: dynamicT, MAXT: dynamicT ? 0 : o.maxTokens } }),
      'main',
    );
  // Compile the common case now, so errors surface at creation rather than at bind.
  const dynamicDefault = op === 'matmul';
  pipelineFor(dynamicDefault);
  const tokenTiles = Math.ceil(o.maxTokens / tt);

  return {
    variant,
    maxTokens: o.maxTokens,
    bind(b: MatmulBindings): KernelCall {
      const w = b.weight;
      if (w.type !== o.type || w.rows !== o.rows || w.cols !== o.cols) {
        throw new ModelFormatError(
          `mat-vec for ${typeName} ${o.rows}×${o.cols} cannot run weight "${w.name}" (${GGMLType[w.type]} ${w.rows}×${w.cols})`,
        );
      }
      if (w.rowBytes !== undefined && w.rowBytes !== rowBytes) {
        throw new ModelFormatError(`weight "${w.name}": rows of ${w.rowBytes} bytes, the ${typeName} kernel expects ${rowBytes}`);
      }
      const inputOffset = b.inputOffset ?? 0;
      const outputOffset = b.outputOffset ?? 0;
      checkInt('inputOffset', inputOffset, 0, 4);
      checkInt('outputOffset', outputOffset, 0);
      const inNeed = (inputOffset + (o.maxTokens - 1) * inputStride + o.cols) * 4;
      const outNeed = (outputOffset + (o.maxTokens - 1) * outputStride + o.rows) * 4;
      if (refSize(b.input) < inNeed) throw new RangeError(`mat-vec "${w.name}": input holds ${refSize(b.input)} bytes, needs ${inNeed}`);
      if (refSize(b.output) < outNeed) throw new RangeError(`mat-vec "${w.name}": output holds ${refSize(b.output)} bytes, needs ${outNeed}`);
      let scale = 1;
      if (o.type === GGMLType.I2_S) {
        if (w.i2sScale === undefined || !Number.isFinite(w.i2sScale)) throw new ModelFormatError(`I2_S weight "${w.name}" has no per-tensor scale`);
        scale = w.i2sScale;
      }
      const dynamicT = op === 'matmul' && b.stepParams !== undefined;
      const pipeline = pipelineFor(dynamicT);
      let covered = 0;
      const calls = w.parts.map((part, i) => {
        if (part.rowStart !== covered || part.rowCount < 1) throw new ModelFormatError(`weight "${w.name}": part ${i} starts at row ${part.rowStart}, expected ${covered}`);
        covered += part.rowCount;
        if (part.buffer.size < part.rowCount * rowBytes) {
          throw new ModelFormatError(`weight "${w.name}": part ${i} buffer holds ${part.buffer.size} bytes, ${part.rowCount} rows need ${part.rowCount * rowBytes}`);
        }
        const params = new ArrayBuffer(16);
        const u = new Uint32Array(params);
        u[0] = part.rowCount;
        u[1] = outputOffset + part.rowStart;
        u[2] = inputOffset / 4;
        new Float32Array(params)[3] = scale;
        const uniform = createUniformBuffer(ctx, params, `${w.name}#${i}:part`);
        const entries: GPUBindGroupEntry[] = [
          { binding: 0, resource: { buffer: part.buffer } },
          { binding: 1, resource: isGpuBuffer(b.input) ? { buffer: b.input } : b.input },
          { binding: 2, resource: isGpuBuffer(b.output) ? { buffer: b.output } : b.output },
          { binding: 3, resource: { buffer: uniform } },
        ];
        if (dynamicT) entries.push({ binding: 4, resource: isGpuBuffer(b.stepParams!) ? { buffer: b.stepParams as GPUBuffer } : (b.stepParams as GPUBufferBinding) });
        const group = ctx.device.createBindGroup({ label: `${op}:${w.name}#${i}`, layout: pipeline.getBindGroupLayout(0), entries });
        const [gx, gy] = grid(ctx, Math.ceil(part.rowCount / variant.rowsPerWorkgroup));
        return { group, gx, gy };
      });
      if (covered !== o.rows) throw new ModelFormatError(`weight "${w.name}": parts cover ${covered} of ${o.rows} rows`);
      return {
        encode(pass: GPUComputePassEncoder) {
          pass.setPipeline(pipeline);
          for (const c of calls) {
            pass.setBindGroup(0, c.group);
            pass.dispatchWorkgroups(c.gx, c.gy, tokenTiles);
          }
        },
      };
    },
  };
}

/** Decode mat-vec y = W·x for one token. */
export function createMatVec(ctx: GpuContext, options: MatVecOptions): MatmulKernel {
  return createKernel(ctx, 'matvec', { ...options, maxTokens: 1 });
}

/** Prefill mat-mul: Y[t] = W·X[t] for up to maxTokens tokens. */
export function createMatMul(ctx: GpuContext, options: MatMulOptions): MatmulKernel {
  return createKernel(ctx, 'matmul', options);
}
