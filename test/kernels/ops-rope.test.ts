// RoPE (normal / NeoX, partial rotary dims, scaling, factors) and its fused KV-cache write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import { createRope } from '../../src/kernels/rope.ts';
import { createStepParams } from '../../src/kernels/step-params.ts';
import { build, expectClose, randn, run, runStep } from './ops-helpers.ts';

interface Shape {
  hd: number;
  nh: number;
  nkv: number;
  ropeDim: number;
  neox: boolean;
  base: number;
  scale: number;
  factors?: Float32Array;
}

/** Reference rotation of x [T][heads][hd] in f64, positions pos0 + t. */
function ropeRef(x: Float32Array, heads: number, s: Shape, pos0: number, tokens: number): Float32Array {
  const out = Float32Array.from(x);
  const half = s.ropeDim / 2;
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * s.hd;
      for (let i = 0; i < half; i++) {
        const theta = ((pos0 + t) * s.scale * Math.pow(s.base, (-2 * i) / s.ropeDim)) / (s.factors ? s.factors[i]! : 1);
        const [a, b] = s.neox ? [i, i + half] : [2 * i, 2 * i + 1];
        const x0 = x[base + a]!;
        const x1 = x[base + b]!;
        out[base + a] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
        out[base + b] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
      }
    }
  }
  return out;
}

describe('rope', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await requestNodeGpu({ warn: null });
  });
  afterAll(() => ctx?.device.destroy());

  const shapes: [string, Shape][] = [
    ['llama hd16 gqa2', { hd: 16, nh: 4, nkv: 2, ropeDim: 16, neox: false, base: 10000, scale: 1 }],
    ['neox hd64 gqa4', { hd: 64, nh: 8, nkv: 2, ropeDim: 64, neox: true, base: 500000, scale: 1 }],
    ['llama partial 24/32, scaled', { hd: 32, nh: 3, nkv: 3, ropeDim: 24, neox: false, base: 10000, scale: 0.25 }],
    [
      'neox partial 16/32, factors',
      {
        hd: 32,
        nh: 2,
        nkv: 1,
        ropeDim: 16,
        neox: true,
        base: 10000,
        scale: 1,
        factors: Float32Array.from({ length: 8 }, (_, i) => 1 + i * 0.7),
      },
    ],
  ];

  for (const [label, s] of shapes) {
    for (const [pos0, tokens, maxTokens] of [
      [0, 1, 1],
      [1234, 5, 7],
      [100000, 2, 2], // long-context positions: the angle must not lose precision
    ] as const) {
      it(`${label}: pos0=${pos0} tokens=${tokens}/${maxTokens}`, async () => {
        const q = randn(maxTokens * s.nh * s.hd, 3 + pos0, 2);
        const k = randn(maxTokens * s.nkv * s.hd, 4 + pos0, 2);
        const params = createStepParams(ctx, { pos0, nTokens: tokens });
        const qBuf = createStorageBuffer(ctx, q);
        const kBuf = createStorageBuffer(ctx, k);
        const kern = await build(ctx, () =>
          createRope(ctx, {
            headDim: s.hd,
            nHeads: s.nh,
            nKvHeads: s.nkv,
            ropeDim: s.ropeDim,
            freqBase: s.base,
            freqScale: s.scale,
            neox: s.neox,
            freqFactors: s.factors,
            maxTokens,
          }),
        );
        await runStep(ctx, { pos0, nTokens: tokens }, kern.bind({ params, q: qBuf, k: kBuf }));
        // Angles are exact fractions of a turn at any position: only sin/cos and the rotation round.
        const tol = 2e-6;
        const gq = await readF32(ctx, qBuf);
        const gk = await readF32(ctx, kBuf);
        expectClose(gq, ropeRef(q, s.nh, s, pos0, tokens), tol, 0, 'q');
        expectClose(gk, ropeRef(k, s.nkv, s, pos0, tokens), tol, 0, 'k');
        // Tokens past nTokens and dims past ropeDim are bit-identical to the input.
        expect(gq.subarray(tokens * s.nh * s.hd)).toEqual(q.subarray(tokens * s.nh * s.hd));
        for (let h = 0; h < s.nh * tokens; h++) {
          expect(gq.subarray(h * s.hd + s.ropeDim, (h + 1) * s.hd)).toEqual(q.subarray(h * s.hd + s.ropeDim, (h + 1) * s.hd));
        }
      });
    }
  }

  it('fused KV-cache write: rotated K and copied V land at [head][pos][d], nothing else changes', async () => {
    const s: Shape = { hd: 32, nh: 4, nkv: 2, ropeDim: 16, neox: true, base: 10000, scale: 1 };
    const maxCtx = 20;
    const tokens = 3;
    const pos0 = 6;
    const q = randn(tokens * s.nh * s.hd, 1);
    const k = randn(tokens * s.nkv * s.hd, 2);
    const v = randn(tokens * s.nkv * s.hd, 3);
    const cacheInit = randn(s.nkv * maxCtx * s.hd, 4, 100);
    const params = createStepParams(ctx, { pos0, nTokens: tokens });
    const bufs = {
      params,
      q: createStorageBuffer(ctx, q),
      k: createStorageBuffer(ctx, k),
      v: createStorageBuffer(ctx, v),
      kCache: createStorageBuffer(ctx, cacheInit),
      vCache: createStorageBuffer(ctx, cacheInit),
    };
    const kern = await build(ctx, () =>
      createRope(ctx, { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, ropeDim: s.ropeDim, neox: true, maxTokens: 4, kvCache: { maxCtx } }),
    );
    await run(ctx, kern.bind(bufs));
    expectClose(await readF32(ctx, bufs.q), ropeRef(q, s.nh, s, pos0, tokens), 2e-6, 0, 'q');
    const kRot = ropeRef(k, s.nkv, s, pos0, tokens);
    const wantK = Float32Array.from(cacheInit);
    const wantV = Float32Array.from(cacheInit);
    for (let t = 0; t < tokens; t++) {
      for (let h = 0; h < s.nkv; h++) {
        const dst = (h * maxCtx + pos0 + t) * s.hd;
        const src = (t * s.nkv + h) * s.hd;
        wantK.set(kRot.subarray(src, src + s.hd), dst);
        wantV.set(v.subarray(src, src + s.hd), dst);
      }
    }
    expectClose(await readF32(ctx, bufs.kCache), wantK, 2e-6, 0, 'kCache');
    expect(await readF32(ctx, bufs.vCache)).toEqual(wantV);
    expect(await readF32(ctx, bufs.k)).toEqual(k);
  });

  it('rejects inconsistent dims and factor counts', () => {
    expect(() => createRope(ctx, { headDim: 16, nHeads: 1, nKvHeads: 1, ropeDim: 18, neox: false })).toThrow(/ropeDim/);
    expect(() => createRope(ctx, { headDim: 15, nHeads: 1, nKvHeads: 1, neox: false })).toThrow(/even/);
    expect(() => createRope(ctx, { headDim: 16, nHeads: 1, nKvHeads: 1, neox: false, freqFactors: new Float32Array(3) })).toThrow(
      /freqFactors/,
    );
    expect(() => createRope(ctx, { headDim: 16, nHeads: 1, nKvHeads: 1, neox: false, freqBase: 0 })).toThrow(/freqBase/);
  });
});
