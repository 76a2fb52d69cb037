// The GPU side of the mat-vec/mat-mul tests: runs a kernel variant on seeded weights and inputs
// and measures it against the CPU reference (matmul-helpers.ts).
import { expect } from 'vitest';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { planRowParts, uploadWeight } from '../../src/gpu/weights.ts';
import { createMatMul, createMatVec, type MatmulVariant } from '../../src/kernels/matmul.ts';
import { createStepParams, writeStepParams } from '../../src/kernels/step-params.ts';
import { getGpuQuantType } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { makeWeight, randomValues, referenceMatmul } from './matmul-helpers.ts';

/** The row-length unit of each type: its row multiple (floats: any multiple of 4). */
export function blockOf(type: GGMLType): number {
  const entry = getGpuQuantType(type);
  return entry.gpu.float ? 4 : entry.rowMultiple;
}

/** Bytes of one row, from the quant table's row rule. */
export const weightRowBytes = (type: GGMLType, cols: number, name?: string) => getGpuQuantType(type).rowBytes(cols, name);
/** The parts a weight of this type and shape is uploaded in. */
export const planWeightParts = (type: GGMLType, rows: number, cols: number, maxBytes: number, name?: string) =>
  planRowParts(rows, weightRowBytes(type, cols, name), maxBytes, name);

export interface RunSpec {
  type: GGMLType;
  rows: number;
  cols: number;
  tokens: number[];
  variant?: Partial<MatmulVariant>;
  maxPartBytes?: number;
  seed?: number;
}

/** Worst |y − ref| / Σ|w·x| over every output; also checks parts and finiteness. */
export async function runMatmul(ctx: GpuContext, spec: RunSpec): Promise<number> {
  const { type, rows, cols } = spec;
  const seed = spec.seed ?? rows * 31 + cols;
  const q = makeWeight(type, rows, cols, seed);
  const weight = uploadWeight(ctx, `w:${GGMLType[type]}`, type, rows, cols, q.bytes, { maxPartBytes: spec.maxPartBytes });
  const maxT = Math.max(...spec.tokens);
  const x = randomValues(maxT * cols, seed + 1);
  const input = createStorageBuffer(ctx, x);
  const output = createStorageBuffer(ctx, maxT * rows * 4);
  const stepParams = createStepParams(ctx, { pos0: 0, nTokens: 1 });
  const single = spec.tokens.length === 1 && spec.tokens[0] === 1;
  const kernel = single
    ? createMatVec(ctx, { type, rows, cols, variant: spec.variant })
    : createMatMul(ctx, { type, rows, cols, maxTokens: maxT, variant: spec.variant });
  // One bind group for every token count: T comes from the step params.
  const call = kernel.bind({ weight, input, output, stepParams: single ? undefined : stepParams });
  let worst = 0;
  try {
    for (const T of spec.tokens) {
      ctx.device.queue.writeBuffer(output, 0, new Float32Array(maxT * rows).fill(Number.NaN));
      writeStepParams(ctx, stepParams, { pos0: 0, nTokens: T });
      const enc = ctx.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      // With the step's values the dispatch covers only T tokens; without, every tile up to maxT.
      call.encode(pass, T === 1 ? undefined : { pos0: 0, nTokens: T });
      pass.end();
      ctx.device.queue.submit([enc.finish()]);
      const y = await readF32(ctx, output, maxT * rows);
      const ref = referenceMatmul(q.values, rows, cols, x, T);
      for (let i = 0; i < T * rows; i++) {
        const err = Math.abs(y[i]! - ref.y[i]!) / Math.max(ref.mag[i]!, 1e-30);
        if (!(err <= worst)) worst = Number.isNaN(err) ? Infinity : Math.max(worst, err);
      }
      // Outputs of tokens past T are left alone.
      for (let i = T * rows; i < maxT * rows; i++) expect(Number.isNaN(y[i]!)).toBe(true);
    }
  } finally {
    for (const p of weight.parts) p.buffer.destroy();
    input.destroy();
    output.destroy();
  }
  return worst;
}
