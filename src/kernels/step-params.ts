/**
 * The per-step parameter buffer every ops kernel reads (layout in shaders/step.wgsl):
 *
 *   word 0 pos0      position of the step's first token
 *   word 1 nTokens   tokens in the step (1 for decode)
 *   word 2 kvLen     pos0 + nTokens: valid KV positions after the step; the token sampled in this
 *                    step is written at tokenHistory[kvLen]
 *   word 3 row       batched decode: the row of the sequence's token in the step's activations,
 *                    which RoPE and decode attention read and write (0 otherwise)
 *
 * The caller owns one such uniform buffer, binds it once and rewrites it before each step.
 */
import type { GpuContext } from '../gpu/device.ts';
import { createUniformBuffer } from '../gpu/buffers.ts';

export const STEP_PARAMS_BYTES = 16;

export interface StepValues {
  pos0: number;
  nTokens: number;
  /** Default 0. */
  row?: number;
}

export function encodeStepParams(v: StepValues): Uint32Array<ArrayBuffer> {
  if (!Number.isInteger(v.pos0) || v.pos0 < 0) throw new RangeError(`step params: pos0 must be a non-negative integer, got ${v.pos0}`);
  if (!Number.isInteger(v.nTokens) || v.nTokens < 1)
    throw new RangeError(`step params: nTokens must be a positive integer, got ${v.nTokens}`);
  const row = v.row ?? 0;
  if (!Number.isInteger(row) || row < 0) throw new RangeError(`step params: row must be a non-negative integer, got ${row}`);
  return new Uint32Array([v.pos0, v.nTokens, v.pos0 + v.nTokens, row]);
}

export function createStepParams(ctx: GpuContext, initial: StepValues = { pos0: 0, nTokens: 1 }): GPUBuffer {
  return createUniformBuffer(ctx, encodeStepParams(initial), 'stepParams');
}

export function writeStepParams(ctx: GpuContext, buffer: GPUBuffer, v: StepValues): void {
  ctx.device.queue.writeBuffer(buffer, 0, encodeStepParams(v));
}
