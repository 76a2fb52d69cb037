// RMSNorm (plain, weightless, per-head rows, fused residual add) against an f64 CPU reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import { createRmsNorm, type RmsNormLayout } from '../../src/kernels/norm.ts';
import { createStepParams, writeStepParams } from '../../src/kernels/step-params.ts';
import { build, expectClose, randn, run, runStep } from './ops-helpers.ts';

function rmsRef(x: Float32Array, n: number, eps: number, w?: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i]! ** 2;
    const s = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) out[r * n + i] = x[r * n + i]! * s * (w ? w[i]! : 1);
  }
  return out;
}

describe('rmsnorm', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await requestNodeGpu({ warn: null });
  });
  afterAll(() => ctx?.device.destroy());

  // The workgroup-per-row layout with and without subgroups, and the thread-per-row layout.
  const variants = (): { subgroups: boolean; layout: RmsNormLayout }[] => [
    ...(ctx.hasSubgroups ? [true, false] : [false]).map((subgroups) => ({ subgroups, layout: 'workgroup' as const })),
    { subgroups: false, layout: 'rows' },
  ];

  for (const [n, tokens, maxTokens, rowsPerToken] of [
    [64, 1, 1, 1],
    [300, 3, 5, 1], // n not a multiple of the workgroup; fewer tokens than the dispatch holds
    [16, 2, 2, 4], // per-head norm, 4 heads of 16
    [1000, 2, 2, 1],
    [128, 70, 130, 1], // the rows layout over more than one workgroup of rows, and a partial one
  ] as const) {
    it(`n=${n} tokens=${tokens}/${maxTokens} rowsPerToken=${rowsPerToken}`, async () => {
      for (const { subgroups, layout } of variants()) {
        const eps = 1e-5;
        const rows = maxTokens * rowsPerToken;
        const x = randn(rows * n, n + tokens, 3);
        const w = randn(n, 7, 2);
        const params = createStepParams(ctx);
        writeStepParams(ctx, params, { pos0: 5, nTokens: tokens });
        const input = createStorageBuffer(ctx, x);
        const weight = createStorageBuffer(ctx, w);
        const output = createStorageBuffer(ctx, new Float32Array(rows * n).fill(-7));
        const k = await build(ctx, () => createRmsNorm(ctx, { n, eps, maxTokens, rowsPerToken, subgroups, layout }));
        expect(k.layout).toBe(layout);
        // With subgroups the dispatch is sized to the step, without it to maxTokens.
        await runStep(ctx, subgroups ? { pos0: 5, nTokens: tokens } : undefined, k.bind({ params, input, weight, output }));
        const got = await readF32(ctx, output);
        const used = tokens * rowsPerToken * n;
        expectClose(got.subarray(0, used), rmsRef(x.subarray(0, used), n, eps, w), 1e-5, 1e-5, `sg=${subgroups} ${layout}`);
        // Rows past nTokens are not touched.
        expect([...got.subarray(used)].every((v) => v === -7)).toBe(true);
      }
    });
  }

  it('fused residual add, and no weight', async () => {
    for (const { subgroups, layout } of variants()) {
      const n = 96;
      const tokens = 3;
      const r0 = randn(tokens * n, 1, 4);
      const d = randn(tokens * n, 2, 4);
      const params = createStepParams(ctx, { pos0: 0, nTokens: tokens });
      const residual = createStorageBuffer(ctx, r0);
      const input = createStorageBuffer(ctx, d);
      const output = createStorageBuffer(ctx, tokens * n * 4);
      const k = await build(ctx, () =>
        createRmsNorm(ctx, { n, eps: 1e-6, maxTokens: tokens, residualAdd: true, weight: false, subgroups, layout }),
      );
      await run(ctx, k.bind({ params, input, output, residual }));
      const sum = r0.map((v, i) => v + d[i]!);
      expectClose(await readF32(ctx, residual), sum, 0, 0, 'residual');
      expectClose(await readF32(ctx, output), rmsRef(sum, n, 1e-6), 1e-5, 1e-5, 'normed');
    }
  });

  it('takes the thread-per-row layout on a software adapter, whatever the row count', () => {
    const layout = (n: number, maxTokens: number, rowsPerToken = 1) => createRmsNorm(ctx, { n, eps: 1e-5, maxTokens, rowsPerToken }).layout;
    const rows = ctx.isSoftware ? 'rows' : 'workgroup';
    expect(layout(64, 1)).toBe(rows);
    expect(layout(64, 256)).toBe(rows);
    expect(layout(64, 16, 4)).toBe(rows);
    expect(layout(30, 256)).toBe('workgroup'); // not whole vec4s
    expect(() => createRmsNorm(ctx, { n: 30, eps: 1e-5, layout: 'rows' })).toThrow(/multiple of 4/);
    expect(() => createRmsNorm(ctx, { n: 32, eps: 1e-5, layout: 'tiled' as RmsNormLayout })).toThrow(/layout/);
  });

  it('rejects bad shapes and missing bindings with messages naming the field', async () => {
    expect(() => createRmsNorm(ctx, { n: 0, eps: 1e-5 })).toThrow(/n must/);
    expect(() => createRmsNorm(ctx, { n: 8, eps: Number.NaN })).toThrow(/eps/);
    const k = createRmsNorm(ctx, { n: 8, eps: 1e-5, residualAdd: true });
    const b = createStorageBuffer(ctx, 32);
    expect(() => k.bind({ params: b, input: b, output: b, weight: b })).toThrow(/residual/);
  });
});
