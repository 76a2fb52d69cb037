// Argmax, softmax, top-K probabilities, penalties and the GPU sampler against CPU references:
// exact filter semantics, the same draws as a CPU mirror of the RNG, and empirical frequencies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32, readU32 } from '../../src/gpu/buffers.ts';
import {
  createArgmax,
  createPenalties,
  createSampler,
  createSamplingParams,
  createTopProbs,
  decodeTopProbs,
  samplingUniform,
  writeSamplingParams,
} from '../../src/kernels/sample.ts';
import type { SamplingOptions } from '../../src/kernels/sampling-options.ts';
import { createSoftmax } from '../../src/kernels/softmax.ts';
import { createStepParams, writeStepParams } from '../../src/kernels/step-params.ts';
import { build, expectClose, randn, rng, run } from './ops-helpers.ts';

/** llama.cpp's sampler defaults: every filter on, so the 'defaults' case exercises them all together. */
const BASE: Required<SamplingOptions> = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repetitionPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
  penaltyWindow: 64,
  seed: 0,
};

function argmaxRef(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]! || Number.isNaN(x[best]!)) best = i;
  return best;
}

/** The sampler's filter on the CPU: survivors' weights (0 = filtered out). */
function filterRef(z: Float32Array, o: Required<SamplingOptions>): Float64Array {
  const n = z.length;
  const m = z.reduce((a, v) => Math.max(a, v), -Infinity);
  const sorted = Float64Array.from(z).sort().reverse();
  let tau = -Infinity;
  if (o.topK > 0 && o.topK < n) tau = sorted[o.topK - 1]!;
  if (o.minP > 0) tau = Math.max(tau, Math.fround(m + Math.log(o.minP)));
  if (o.topP < 1) {
    const kept = sorted.filter((v) => v >= (o.topK > 0 && o.topK < n ? sorted[o.topK - 1]! : -Infinity));
    const total = kept.reduce((s, v) => s + Math.exp(v - m), 0);
    let cum = 0;
    for (const v of kept) {
      cum += Math.exp(v - m);
      if (cum >= o.topP * total) {
        tau = Math.max(tau, v);
        break;
      }
    }
  }
  return Float64Array.from(z, (v) => (v >= tau ? Math.exp((v - m) / o.temperature) : 0));
}

function drawRef(w: Float64Array, u: number): number {
  const total = w.reduce((s, v) => s + v, 0);
  let cum = 0;
  let last = -1;
  for (let i = 0; i < w.length; i++) {
    if (w[i]! > 0) {
      last = i;
      cum += w[i]!;
      if (cum > u * total) return i;
    }
  }
  return last;
}

describe('sampling kernels', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await requestNodeGpu({ warn: null });
  });
  afterAll(() => ctx?.device.destroy());
  const variants = (): (boolean | undefined)[] => (ctx.hasSubgroups ? [true, false] : [false]);

  it('argmax: odd vocab sizes, ties to the lowest index, NaN/-inf never win, history at kvLen', async () => {
    for (const subgroups of variants()) {
      for (const vocab of [1, 7, 1000, 5003, 151_936]) {
        const x = randn(vocab, vocab, 5);
        if (vocab > 10) {
          x[3] = Number.NaN;
          x[4] = Number.NEGATIVE_INFINITY;
          const at = Math.floor(vocab * 0.7);
          x[at] = 9;
          x[vocab - 1] = 9; // tie: the lower index wins
        }
        const params = createStepParams(ctx, { pos0: 4, nTokens: 2 });
        const out = createStorageBuffer(ctx, 4);
        const history = createStorageBuffer(ctx, new Uint32Array(8).fill(77));
        const k = await build(ctx, () => createArgmax(ctx, { vocab, subgroups }));
        await run(ctx, k.bind({ params, logits: createStorageBuffer(ctx, x), out, history }));
        const want = argmaxRef(x);
        expect((await readU32(ctx, out))[0], `vocab ${vocab}`).toBe(want);
        expect([...(await readU32(ctx, history))]).toEqual([77, 77, 77, 77, 77, 77, want, 77]);
        // kvLen past the history's end: nothing written, no fault.
        writeStepParams(ctx, params, { pos0: 8, nTokens: 1 });
        await run(ctx, k.bind({ params, logits: createStorageBuffer(ctx, x), out, history }));
        expect((await readU32(ctx, history))[7]).toBe(77);
      }
    }
  });

  it('softmax rows', async () => {
    for (const subgroups of variants()) {
      for (const [n, rows] of [
        [5, 1],
        [1000, 3],
      ]) {
        const x = randn(n * rows, n, 8);
        const output = createStorageBuffer(ctx, n * rows * 4);
        const k = await build(ctx, () => createSoftmax(ctx, { n, rows, subgroups }));
        await run(ctx, k.bind({ input: createStorageBuffer(ctx, x), output }));
        const want = new Float32Array(n * rows);
        for (let r = 0; r < rows; r++) {
          const row = x.subarray(r * n, (r + 1) * n);
          const m = Math.max(...row);
          const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
          row.forEach((v, i) => (want[r * n + i] = Math.exp(v - m) / s));
        }
        expectClose(await readF32(ctx, output), want, 1e-7, 1e-5, `n=${n}`);
      }
    }
  });

  it('top-5 probabilities of the raw softmax', async () => {
    for (const subgroups of variants()) {
      const vocab = 3001;
      const x = randn(vocab, 99, 4);
      x[10] = x[2000] = 6; // tied pair: lower index first
      const out = createStorageBuffer(ctx, 40);
      const k = await build(ctx, () => createTopProbs(ctx, { vocab, subgroups }));
      await run(ctx, k.bind({ logits: createStorageBuffer(ctx, x), out }));
      const got = decodeTopProbs(await readU32(ctx, out), k.k);
      const m = Math.max(...x);
      const s = x.reduce((a, v) => a + Math.exp(v - m), 0);
      const order = [...x.keys()].sort((a, b) => x[b]! - x[a]! || a - b).slice(0, 5);
      expect(got.map((g) => g.id)).toEqual(order);
      expectClose(
        got.map((g) => g.prob),
        order.map((i) => Math.exp(x[i]! - m) / s),
        1e-7,
        1e-5,
        'probs',
      );
    }
  });

  it('penalties: first occurrence counts, window from kvLen, clamped to maxWindow', async () => {
    const vocab = 50;
    const x = randn(vocab, 5, 3);
    const hist = Uint32Array.from([1, 2, 3, 2, 2, 9, 49, 3, 999, 1, 0, 0]); // 999: out of vocab, ignored
    const opts = { repetitionPenalty: 1.3, frequencyPenalty: 0.2, presencePenalty: 0.5, penaltyWindow: 8 };
    const params = createStepParams(ctx, { pos0: 9, nTokens: 1 }); // kvLen 10: window = positions 2…9
    const sampling = createSamplingParams(ctx, opts);
    const logits = createStorageBuffer(ctx, x);
    const k = await build(ctx, () => createPenalties(ctx, { vocab, maxWindow: 64 }));
    await run(ctx, k.bind({ params, sampling, history: createStorageBuffer(ctx, hist), logits }));
    const want = Float32Array.from(x);
    const counts = new Map<number, number>();
    for (const t of hist.slice(2, 10)) if (t < vocab) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const [t, c] of counts) {
      let z = want[t]!;
      z = z <= 0 ? z * 1.3 : z / 1.3;
      want[t] = z - c * 0.2 - 0.5;
    }
    expectClose(await readF32(ctx, logits), want, 1e-6, 1e-6, 'penalised');
    // maxWindow 2 clamps penaltyWindow: only positions 8, 9 (999 ignored, token 1).
    const logits2 = createStorageBuffer(ctx, x);
    const k2 = await build(ctx, () => createPenalties(ctx, { vocab, maxWindow: 2 }));
    await run(ctx, k2.bind({ params, sampling, history: createStorageBuffer(ctx, hist), logits: logits2 }));
    const want2 = Float32Array.from(x);
    want2[1] = (want2[1]! <= 0 ? want2[1]! * 1.3 : want2[1]! / 1.3) - 0.2 - 0.5;
    expectClose(await readF32(ctx, logits2), want2, 1e-6, 1e-6, 'window 2');
  });

  async function sample(
    vocab: number,
    x: Float32Array,
    o: SamplingOptions,
    draws: number,
    kvLen: number,
    extra: { candidateCap?: number; subgroups?: boolean } = {},
  ) {
    const params = createStepParams(ctx, { pos0: kvLen - 1, nTokens: 1 });
    const sampling = createSamplingParams(ctx, o);
    const out = createStorageBuffer(ctx, draws * 4);
    const k = await build(ctx, () => createSampler(ctx, { vocab, draws, ...extra }));
    await run(ctx, k.bind({ params, sampling, logits: createStorageBuffer(ctx, x), out }));
    return readU32(ctx, out);
  }

  it('temperature 0, top-k 1 and a tiny top-p all give the argmax', async () => {
    const vocab = 777;
    const x = randn(vocab, 3, 4);
    const want = argmaxRef(x);
    for (const o of [
      { temperature: 0 },
      { temperature: 1.5, topK: 1, topP: 1, minP: 0 },
      { temperature: 2, topK: 0, topP: 1e-6, minP: 0 },
    ]) {
      const got = await sample(vocab, x, o, 64, 10);
      expect(new Set(got), JSON.stringify(o)).toEqual(new Set([want]));
    }
  });

  it('same seed and position → same tokens; another seed or position → other draws', async () => {
    const vocab = 300;
    const x = randn(vocab, 8, 1);
    const o = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1234 };
    const a = await sample(vocab, x, o, 32, 5);
    const b = await sample(vocab, x, o, 32, 5);
    const c = await sample(vocab, x, { ...o, seed: 1235 }, 32, 5);
    const d = await sample(vocab, x, o, 32, 6);
    expect([...a]).toEqual([...b]);
    expect([...a]).not.toEqual([...c]);
    expect([...a]).not.toEqual([...d]);
  });

  const configs: [string, SamplingOptions][] = [
    ['defaults', {}],
    ['top-k 5, T 1.3', { topK: 5, topP: 1, minP: 0, temperature: 1.3 }],
    ['top-p 0.6 only', { topK: 0, topP: 0.6, minP: 0, temperature: 1 }],
    ['min-p 0.2 only', { topK: 0, topP: 1, minP: 0.2, temperature: 0.7 }],
    ['all filters off', { topK: 0, topP: 1, minP: 0, temperature: 1 }],
    ['top-k 50 + top-p 0.9', { topK: 50, topP: 0.9, minP: 0, temperature: 0.9, seed: 77 }],
  ];
  for (const [label, opts] of configs) {
    it(`draws match the CPU mirror (filter + RNG): ${label}`, async () => {
      for (const subgroups of variants()) {
        const vocab = 1000;
        const x = randn(vocab, label.length, 4);
        const o = { ...BASE, ...opts };
        const draws = 500;
        const kvLen = 42;
        const got = await sample(vocab, x, o, draws, kvLen, { subgroups });
        const w = filterRef(x, o);
        let agree = 0;
        for (let d = 0; d < draws; d++) {
          expect(w[got[d]!], `draw ${d} picked a filtered token`).toBeGreaterThan(0);
          if (got[d] === drawRef(w, samplingUniform(o.seed, kvLen, d))) agree++;
        }
        // f32 vs f64 prefix sums may flip a draw that lands within rounding of a boundary.
        expect(agree).toBeGreaterThanOrEqual(draws - 2);
      }
    });
  }

  it('top-p past the candidate cap (32-pass fallback) keeps exactly the nucleus', async () => {
    const vocab = 2000;
    const x = randn(vocab, 31, 0.5); // flat: the 0.8 nucleus holds ~1500 tokens
    const o = { ...BASE, topK: 0, topP: 0.8, minP: 0, temperature: 1 };
    const w = filterRef(x, o);
    const kept = w.filter((v) => v > 0).length;
    expect(kept).toBeGreaterThan(1000);
    for (const cap of [16, 2000]) {
      const got = await sample(vocab, x, o, 400, 9, { candidateCap: cap });
      let agree = 0;
      got.forEach((t, d) => {
        expect(w[t]!).toBeGreaterThan(0);
        if (t === drawRef(w, samplingUniform(o.seed, 9, d))) agree++;
      });
      expect(agree, `cap ${cap}`).toBeGreaterThanOrEqual(398);
    }
  });

  it('a 152k vocabulary samples exactly too', async () => {
    const vocab = 151_936;
    const x = randn(vocab, 5, 3);
    for (const o of [
      { ...BASE, seed: 3 },
      { ...BASE, topK: 0, minP: 0, topP: 0.5, seed: 4 },
    ]) {
      const got = await sample(vocab, x, o, 64, 100);
      const w = filterRef(x, o);
      let agree = 0;
      got.forEach((t, d) => {
        expect(w[t]!).toBeGreaterThan(0);
        if (t === drawRef(w, samplingUniform(o.seed, 100, d))) agree++;
      });
      expect(agree).toBeGreaterThanOrEqual(63);
    }
  });

  it('empirical frequencies over 4000 draws follow the filtered softmax', async () => {
    const vocab = 20;
    const r = rng(5);
    const x = Float32Array.from({ length: vocab }, () => r() * 4);
    const o = { ...BASE, temperature: 0.8, topK: 12, topP: 0.9, minP: 0.02, seed: 2024 };
    const draws = 4000;
    const got = await sample(vocab, x, o, draws, 3);
    const w = filterRef(x, o);
    const total = w.reduce((s, v) => s + v, 0);
    const counts = new Array<number>(vocab).fill(0);
    for (const t of got) counts[t]!++;
    let chi2 = 0;
    let dof = -1;
    for (let i = 0; i < vocab; i++) {
      const p = w[i]! / total;
      if (p === 0) {
        expect(counts[i], `token ${i} is filtered out`).toBe(0);
        continue;
      }
      const e = draws * p;
      expect(Math.abs(counts[i]! - e), `token ${i}`).toBeLessThanOrEqual(5 * Math.sqrt(e * (1 - p)) + 1);
      chi2 += (counts[i]! - e) ** 2 / e;
      dof++;
    }
    // Chi-square well inside its tail (p ≈ 1e-4 for ≤ 12 degrees of freedom at 40).
    expect(chi2).toBeLessThan(40);
    expect(dof).toBeGreaterThan(2);
  });

  it('writes draw 0 into the history at kvLen; penalties then sampler in one pass', async () => {
    const vocab = 64;
    const x = randn(vocab, 12, 1);
    const top = argmaxRef(x);
    x[top] = 5; // clear winner …
    const hist = new Uint32Array(16);
    hist.fill(top, 0, 6); // … repeated six times in the window, so the penalty sinks it
    const params = createStepParams(ctx, { pos0: 5, nTokens: 1 });
    const sampling = createSamplingParams(ctx, { temperature: 0, repetitionPenalty: 1, presencePenalty: 100, penaltyWindow: 6 });
    const logits = createStorageBuffer(ctx, x);
    const history = createStorageBuffer(ctx, hist);
    const out = createStorageBuffer(ctx, 4);
    const pen = await build(ctx, () => createPenalties(ctx, { vocab }));
    const smp = await build(ctx, () => createSampler(ctx, { vocab }));
    await run(ctx, pen.bind({ params, sampling, history, logits }), smp.bind({ params, sampling, logits, out, history }));
    const penalised = Float32Array.from(x);
    penalised[top] = 5 - 100;
    const want = argmaxRef(penalised);
    expect(want).not.toBe(top);
    expect((await readU32(ctx, out))[0]).toBe(want);
    expect((await readU32(ctx, history))[6]).toBe(want);
    // Parameters are a buffer write: the same bind groups sample differently next time.
    writeSamplingParams(ctx, sampling, { temperature: 0 });
    await run(ctx, smp.bind({ params, sampling, logits: createStorageBuffer(ctx, x), out, history }));
    expect((await readU32(ctx, out))[0]).toBe(top);
  });

  it('rejects bad sampling options by name', () => {
    expect(() => createSampler(ctx, { vocab: 10, candidateCap: 1 << 20 })).toThrow(/maxComputeWorkgroupStorageSize/);
    expect(() => createSamplingParams(ctx, { topK: -1 })).toThrow(/topK/);
    expect(() => createSamplingParams(ctx, { temperature: Number.NaN })).toThrow(/temperature/);
    expect(() => createSamplingParams(ctx, { repetitionPenalty: 0 })).toThrow(/repetitionPenalty/);
    expect(() => createSampler(ctx, { vocab: 0 })).toThrow(/vocab/);
  });
});
