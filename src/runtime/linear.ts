/**
 * Weight × activation products for the forward pass: mat-vec for decode (one token) and mat-mul
 * for prefill (up to maxTokens tokens), over weights still quantized in GPU memory
 * (shaders/linear.wgsl with the per-type decoders of shaders/common/quant_decode.wgsl).
 * A weight split into several buffers by rows (parts) gets one dispatch per part.
 */
import linearWgsl from '../../shaders/linear.wgsl?raw';
import stepWgsl from '../../shaders/step.wgsl?raw';
import { UnsupportedTensorTypeError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { createStorageBuffer } from '../gpu/buffers.ts';
import { composeWgsl, getPipeline } from '../gpu/pipelines.ts';
import { type BufferRef, type KernelCall, grid, makeBindGroup } from '../kernels/common.ts';
import { GGMLType } from '../quant/types.ts';
import { quantDefines, TERNARY_TYPES, VALUE_TYPES } from '../kernels/quant-wgsl.ts';
import type { GpuWeight } from './loader.ts';

const FLOAT_TYPES = [GGMLType.F32, GGMLType.F16, GGMLType.BF16];

/** Weight types the GPU linear kernels run. */
export const LINEAR_TYPES: readonly GGMLType[] = [...FLOAT_TYPES, ...VALUE_TYPES, ...TERNARY_TYPES];

export interface LinearBindings {
  input: BufferRef;
  output: BufferRef;
  /** Step params (needed when maxTokens > 1: the real token count). */
  params: BufferRef;
}

export interface LinearKernel {
  bind(b: LinearBindings): KernelCall;
}

/** Values per unit of the row each thread decodes at once. */
function unitValues(type: GGMLType, cols: number): number {
  if (type === GGMLType.F32) return cols % 4 === 0 ? 4 : 1;
  if (type === GGMLType.F16 || type === GGMLType.BF16) return 2;
  return 32;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export interface LinearOptions {
  /** Force one thread per row (default: on software devices). */
  serial?: boolean;
}

export function createLinear(ctx: GpuContext, weight: GpuWeight, maxTokens: number, options: LinearOptions = {}): LinearKernel {
  const { type, rows, cols } = weight;
  if (!LINEAR_TYPES.includes(type)) {
    throw new UnsupportedTensorTypeError(`${weight.name}: ${GGMLType[type] ?? type} weights have no GPU kernel yet`, type, weight.name);
  }
  if ((type === GGMLType.F16 || type === GGMLType.BF16) && cols % 2) {
    throw new UnsupportedTensorTypeError(`${weight.name}: ${GGMLType[type]} rows of odd length (${cols}) are not supported`, type, weight.name);
  }
  const uv = unitValues(type, cols);
  const unitsPerRow = cols / uv;
  // Threads per row: a whole row per thread on software devices, where every workgroup barrier
  // costs a fiber switch (measured on SwiftShader: 10-30x slower with a tree reduction);
  // otherwise enough threads to cover the row's units, reduced through workgroup memory.
  const serial = options.serial ?? ctx.isSoftware;
  const tpr = serial ? 1 : Math.min(64, nextPow2(unitsPerRow));
  const rpw = 64 / tpr;
  const tt = maxTokens === 1 ? 1 : 8;
  const defines: Record<string, string | number | boolean> = {
    COLS: cols,
    ROWS_TOTAL: rows,
    TPR: tpr,
    SERIAL: serial,
    RPW: rpw,
    TT: tt,
    WGSIZE: tpr * rpw,
    I2S_SCALE: type === GGMLType.I2_S,
    USE_PARAMS: maxTokens > 1,
    F32_VALUES: uv,
    F32_BYTES: uv * 4,
    ...quantDefines(type),
  };
  const code = composeWgsl(linearWgsl, { defines, snippets: { step: stepWgsl } });
  const key = `linear:${GGMLType[type]}:${cols}x${rows}:t${tt}:p${maxTokens > 1 ? 1 : 0}:s${serial ? 1 : 0}`;
  const scaleBuf =
    type === GGMLType.I2_S ? createStorageBuffer(ctx, new Float32Array([weight.i2sScale ?? 1]), { label: `${weight.name}:scale` }) : undefined;
  const zGroups = Math.ceil(maxTokens / tt);
  const parts = weight.parts.map((part) => {
    const pipeline = getPipeline(ctx, key, code, 'main', { ROW_START: part.rowStart, PART_ROWS: part.rowCount });
    const [gx, gy] = grid(ctx, Math.ceil(part.rowCount / rpw));
    return { part, pipeline, gx, gy };
  });
  return {
    bind(b) {
      const calls = parts.map(({ part, pipeline, gx, gy }, i) => ({
        pipeline,
        gx,
        gy,
        group: makeBindGroup(ctx, pipeline, `linear:${weight.name}#${i}`, [maxTokens > 1 ? b.params : undefined, part.buffer, b.input, b.output, scaleBuf]),
      }));
      return {
        encode(pass, step) {
          const z = step ? Math.ceil(Math.min(Math.max(1, step.nTokens), maxTokens) / tt) : zGroups;
          for (const c of calls) {
            pass.setPipeline(c.pipeline);
            pass.setBindGroup(0, c.group);
            pass.dispatchWorkgroups(c.gx, c.gy, z);
          }
        },
      };
    },
  };
}
