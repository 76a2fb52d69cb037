// Shared by the ops kernel tests: one pass per run, validation errors surfaced as test failures,
// deterministic random data and tolerant comparisons against f64 CPU references.
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.ts';
import type { KernelCall, StepShape } from '../../src/kernels/common.ts';
import { rng } from '../helpers/random.ts';
export { rng };

/** Encodes the calls into one compute pass, submits, and fails on any validation error. */
export async function run(ctx: GpuContext, ...calls: KernelCall[]): Promise<void> {
  return runStep(ctx, undefined, ...calls);
}

/** As run, passing the step's values to encode (dispatches sized to the step, not the maximum). */
export async function runStep(ctx: GpuContext, step: StepShape | undefined, ...calls: KernelCall[]): Promise<void> {
  ctx.device.pushErrorScope('validation');
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const c of calls) c.encode(pass, step);
  pass.end();
  ctx.device.queue.submit([enc.finish()]);
  const err = await ctx.device.popErrorScope();
  if (err) throw new Error(`GPU validation: ${err.message}`);
  await ctx.device.queue.onSubmittedWorkDone();
}

/** Creates kernels inside a validation scope so shader compile errors fail the test. */
export async function build<T>(ctx: GpuContext, make: () => T): Promise<T> {
  ctx.device.pushErrorScope('validation');
  const k = make();
  const err = await ctx.device.popErrorScope();
  if (err) throw new Error(`GPU validation: ${err.message}`);
  return k;
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** Max |a-b| / (atol + rtol*|b|) must stay ≤ 1. Reports the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const diff = Math.abs(a - e);
    const r = diff === 0 ? 0 : diff / (atol + rtol * Math.abs(e));
    if (Number.isNaN(r)) {
      worst = Infinity;
      at = i;
      break;
    }
    if (r > worst) {
      worst = r;
      at = i;
    }
  }
  if (!(worst <= 1)) {
    expect.fail(`${what} mismatch at ${at}: got ${actual[at]}, want ${expected[at]} (ratio ${worst})`);
  }
}
