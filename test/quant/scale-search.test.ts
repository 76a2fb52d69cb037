import { describe, expect, it } from 'vitest';
import { lastNegatedMin, makeQkx3Quants, makeQxQuants } from '../../src/quant/cpu/kquants.ts';
import { rng } from './helpers.ts';

// The quantizers' scale searches skip work they can prove changes nothing (candidates whose codes
// repeat, errors that cannot beat the best, weights computed once). These tests hold them to a
// plain transcription of ggml's loops, every f32 step rounded, on sub-blocks built to reach the
// edges: ties, zeros, subnormal and overflowing products, NaN and infinities, and importance
// weights that are zero, negative or NaN (an imatrix file is outside input).

const fround = Math.fround;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** ggml's nearest_int, literally: the f32 sum with 1.5·2^23, mantissa read back. */
function nearestIntPlain(x: number): number {
  f32[0] = x + 12582912;
  return (u32[0] & 0x007fffff) - 0x00400000;
}

/** make_qkx2_quants as ggml writes it (make_qkx3_quants' search: weights given, squared error). */
function plainQkx(n: number, nmax: number, x: Float32Array, w: Float32Array, rmin: number, rdelta: number, nstep: number) {
  const L = new Uint8Array(n);
  const Laux = new Uint8Array(n);
  let min = x[0]!;
  let max = x[0]!;
  let sumW = w[0]!;
  let sumX = fround(sumW * x[0]!);
  for (let i = 1; i < n; i++) {
    if (x[i]! < min) min = x[i]!;
    if (x[i]! > max) max = x[i]!;
    sumW = fround(sumW + w[i]!);
    sumX = fround(sumX + fround(w[i]! * x[i]!));
  }
  if (min > 0) min = 0;
  if (max === min) return { scale: 0, negMin: -min, L };
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  let best = 0;
  for (let i = 0; i < n; i++) {
    L[i] = Math.max(0, Math.min(nmax, nearestIntPlain(fround(iscale * fround(x[i]! - min)))));
    const diff = fround(fround(fround(scale * L[i]!) + min) - x[i]!);
    best = fround(best + fround(w[i]! * fround(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = fround(fround(fround(rmin + fround(rdelta * is)) + nmax) / fround(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestIntPlain(fround(iscale * fround(x[i]! - min)))));
      Laux[i] = l;
      const wl = fround(w[i]! * l);
      sumL = fround(sumL + wl);
      sumL2 = fround(sumL2 + fround(wl * l));
      sumXL = fround(sumXL + fround(wl * x[i]!));
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    if (D > 0) {
      let s = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
      let m = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
      if (m > 0) {
        m = 0;
        s = fround(sumXL / sumL2);
      }
      let err = 0;
      for (let i = 0; i < n; i++) {
        const diff = fround(fround(fround(s * Laux[i]!) + m) - x[i]!);
        err = fround(err + fround(w[i]! * fround(diff * diff)));
      }
      if (err < best) {
        L.set(Laux);
        best = err;
        scale = s;
        min = m;
      }
    }
  }
  return { scale, negMin: -min, L };
}

/** make_qx_quants (rmse_type 1) as ggml writes it; weights x² when none are given. */
function plainQx(n: number, nmax: number, x: Float32Array, qw?: Float32Array) {
  const L = new Uint8Array(n);
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    if (Math.abs(x[i]!) > amax) {
      amax = Math.abs(x[i]!);
      max = x[i]!;
    }
  }
  if (amax < fround(1e-15)) return { scale: 0, L };
  const weight = (i: number) => (qw ? qw[i]! : fround(x[i]! * x[i]!));
  const fit = (iscale: number) => {
    let sumlx = 0;
    let suml2 = 0;
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestIntPlain(fround(iscale * x[i]!))));
      codes[i] = l;
      sumlx = fround(sumlx + fround(fround(weight(i) * x[i]!) * l));
      suml2 = fround(suml2 + fround(fround(weight(i) * l) * l));
    }
    return { sumlx, suml2, codes };
  };
  const first = fit(fround(-nmax / max));
  for (let i = 0; i < n; i++) L[i] = first.codes[i]! + nmax;
  let scale = first.suml2 !== 0 ? fround(first.sumlx / first.suml2) : 0;
  let best = fround(scale * first.sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const c = fit(fround(-fround(nmax + fround(fround(0.1) * is)) / max));
    if (c.suml2 > 0 && fround(c.sumlx * c.sumlx) > fround(best * c.suml2)) {
      for (let i = 0; i < n; i++) L[i] = c.codes[i]! + nmax;
      scale = fround(c.sumlx / c.suml2);
      best = fround(scale * c.sumlx);
    }
  }
  return { scale, L };
}

const KINDS = 14;

/** Sub-block `kind` of n values: the cases where rounding, ties and overflow differ. */
function subBlock(kind: number, n: number, r: ReturnType<typeof rng>): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const g = r.gauss();
    x[i] = [
      g * 0.02,
      g ** 3,
      0,
      0.5,
      i % 7 === 3 ? -3 : 0,
      g * 1e-6,
      -Math.abs(g),
      Math.abs(g) * 1e3,
      Math.round(g * 4) / 4,
      (r.next() < 0.3 ? 0 : 1) * (r.next() < 0.5 ? -1 : 1) * 0.125,
      g * 1e-30,
      g * 1e18,
      i === 5 ? NaN : g,
      i === 9 ? (r.next() < 0.5 ? Infinity : -Infinity) : g * 0.1,
    ][kind]!;
  }
  return x;
}

const WEIGHT_KINDS = 6;

/** Weights: Q4_K's rms + |x|, imatrix-like spread, some zero, some negative, all zero, one NaN. */
function weightsFor(kind: number, x: Float32Array, r: ReturnType<typeof rng>): Float32Array {
  const n = x.length;
  let s2 = 0;
  for (let i = 0; i < n; i++) s2 = fround(s2 + fround(x[i]! * x[i]!));
  const rms = fround(Math.sqrt(fround(s2 / n)));
  return new Float32Array(n).map((_, i) => {
    const spread = 10 ** (6 * r.next() - 3);
    switch (kind) {
      case 0:
        return fround(rms + Math.abs(x[i]!));
      case 1:
        return spread;
      case 2:
        return r.next() < 0.4 ? 0 : spread;
      case 3:
        return r.next() < 0.3 ? -spread : spread;
      case 4:
        return 0;
      default:
        return i === 2 ? NaN : spread;
    }
  });
}

/** Same f32 value, NaNs of any payload counting as equal. */
const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

describe('scale searches: the shortcuts change no result', () => {
  it('makeQkx3Quants (Q2_K/Q4_K/Q5_K/Q4_1/Q5_1 with an imatrix) picks the plain search’s codes, scale and min', () => {
    const r = rng(21);
    let cases = 0;
    const mismatches: string[] = [];
    for (const [n, nmax] of [
      [16, 3],
      [32, 15],
      [32, 31],
    ] as const) {
      const L = new Uint8Array(n);
      const Laux = new Uint8Array(n);
      for (let kind = 0; kind < KINDS; kind++) {
        for (let wk = 0; wk < WEIGHT_KINDS; wk++) {
          for (let rep = 0; rep < 12; rep++) {
            const x = subBlock(kind, n, r);
            const w = weightsFor(wk, x, r);
            const want = plainQkx(n, nmax, x, w, fround(-0.9), fround(0.05), 36);
            const scale = makeQkx3Quants(n, nmax, x, 0, w, L, 0, Laux);
            cases++;
            if (!same(scale, want.scale) || !same(lastNegatedMin(), want.negMin) || L.some((l, i) => l !== want.L[i])) {
              mismatches.push(`n ${n} nmax ${nmax} kind ${kind} weights ${wk} rep ${rep}`);
            }
          }
        }
      }
    }
    expect(cases).toBe(3 * KINDS * WEIGHT_KINDS * 12);
    expect(mismatches).toEqual([]);
  });

  it('makeQxQuants (Q6_K, and Q3_K/Q4_0/Q5_0 with an imatrix) picks the plain search’s codes and scale', () => {
    const r = rng(22);
    const mismatches: string[] = [];
    for (const [n, nmax] of [
      [16, 32],
      [16, 4],
      [32, 8],
      [32, 16],
    ] as const) {
      const L = new Uint8Array(n);
      for (let kind = 0; kind < KINDS; kind++) {
        for (let wk = -1; wk < WEIGHT_KINDS; wk++) {
          for (let rep = 0; rep < 12; rep++) {
            const x = subBlock(kind, n, r);
            const w = wk < 0 ? undefined : weightsFor(wk, x, r);
            const want = plainQx(n, nmax, x, w);
            const scale = makeQxQuants(n, nmax, x, 0, L, 0, w);
            if (!same(scale, want.scale) || L.some((l, i) => l !== want.L[i])) {
              mismatches.push(`n ${n} nmax ${nmax} kind ${kind} weights ${wk} rep ${rep}`);
            }
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
  });
});
