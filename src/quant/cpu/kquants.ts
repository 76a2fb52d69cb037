/**
 * K-quants: 256-element super-blocks with sub-block scales (Q2_K … Q6_K) and Q8_K, the
 * activation format of llama.cpp's K-quant dot products.
 *
 * Block layouts (little-endian, no padding):
 *   Q2_K  scales[16] qs[64] d:f16 dmin:f16           16 sub-blocks of 16: scale nibble | min nibble<<4
 *   Q3_K  hmask[32] qs[64] scales[12] d:f16          16 sub-blocks of 16, 6-bit signed scales (−32 bias)
 *   Q4_K  d:f16 dmin:f16 scales[12] qs[128]          8 sub-blocks of 32, 6-bit scale + 6-bit min
 *   Q5_K  d:f16 dmin:f16 scales[12] qh[32] qs[128]   as Q4_K plus a fifth bit per value
 *   Q6_K  ql[128] qh[64] scales:i8[16] d:f16         16 sub-blocks of 16, 8-bit signed scales
 *   Q8_K  d:f32 qs:i8[256] bsums:i16[16]
 *
 * Dequantizers mirror ggml's dequantize_row_* (f32, same operation order); quantizers mirror
 * quantize_row_*_ref — the path llama-quantize takes without an importance matrix — including the
 * scale searches (make_qkx2_quants, make_qx_quants, make_q3_quants) and nearest_int rounding, with
 * every f32 intermediate rounded by Math.fround so the bytes come out identical.
 */

import { f16Table, writeF16 } from './float.ts';
import { nearestInt as nearestIntShared, signedAbsMax as signedAbsMaxShared } from './rounding.ts';
import { assertTensorBytes, floatOutput, importanceRowLength, quantizeOutput } from './validate.ts';

// Local bindings: hot loops call these per value, and a transpiled import may be a property getter.
const fround = Math.fround;
const nearestInt = nearestIntShared;
const signedAbsMax = signedAbsMaxShared;

const QK_K = 256;
const GROUP_MAX_EPS = fround(1e-15);
const TENTH = fround(0.1);

function f16At(b: Uint8Array, o: number, table: Float32Array): number {
  return table[b[o] | (b[o + 1] << 8)];
}

/**
 * Unpack sub-block j's 6-bit scale and min from Q4_K/Q5_K's 12 scale bytes: j < 4 keep them in the
 * low 6 bits of bytes j and j+4; j ≥ 4 put the low nibbles in byte j+4 and the top 2 bits in the
 * spare high bits of bytes j−4 (scale) and j (min).
 */
function scaleMinK4(j: number, b: Uint8Array, o: number, out: Uint8Array): void {
  if (j < 4) {
    out[0] = b[o + j] & 63;
    out[1] = b[o + j + 4] & 63;
  } else {
    out[0] = (b[o + j + 4] & 0x0f) | ((b[o + j - 4] >> 6) << 4);
    out[1] = (b[o + j + 4] >> 4) | ((b[o + j] >> 6) << 4);
  }
}

/** Q3_K sub-block j's 6-bit scale code (0..63, bias 32): low nibble from bytes 0..7, top 2 bits from 8..11. */
function q3kScaleCode(b: Uint8Array, o: number, j: number): number {
  const low = j < 8 ? b[o + j] & 0x0f : b[o + j - 8] >> 4;
  const high = (b[o + 8 + (j & 3)] >> (2 * (j >> 2))) & 3;
  return low | (high << 4);
}

// =========================================================================== dequantize

export function dequantizeQ2_K(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q2_K', src, nElements, QK_K, 84);
  const out = floatOutput('Q2_K', nElements, dst);
  const f16 = f16Table();
  let y = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 84) {
    const d = f16At(src, o + 80, f16);
    const min = f16At(src, o + 82, f16);
    let is = 0;
    for (let n = 0; n < 2; n++) {
      const q = o + 16 + 32 * n;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const sc = src[o + is++];
          const dl = fround(d * (sc & 0x0f));
          const ml = fround(min * (sc >> 4));
          const qh = q + 16 * half;
          for (let l = 0; l < 16; l++) out[y++] = fround(dl * ((src[qh + l] >> shift) & 3)) - ml;
        }
      }
    }
  }
  return out;
}

export function dequantizeQ3_K(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q3_K', src, nElements, QK_K, 110);
  const out = floatOutput('Q3_K', nElements, dst);
  const f16 = f16Table();
  let y = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 110) {
    const dAll = f16At(src, o + 108, f16);
    const hm = o; // hmask[32]: bit (j-th 32-value group) of byte l marks "no −4 offset"
    let m = 1;
    let is = 0;
    for (let n = 0; n < 2; n++) {
      const q = o + 32 + 32 * n;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const dl = fround(dAll * (q3kScaleCode(src, o + 96, is++) - 32));
          const base = 16 * half;
          for (let l = 0; l < 16; l++) {
            const v = ((src[q + base + l] >> shift) & 3) - ((src[hm + base + l] & m) !== 0 ? 0 : 4);
            out[y++] = dl * v;
          }
        }
        m <<= 1;
      }
    }
  }
  return out;
}

export function dequantizeQ4_K(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q4_K', src, nElements, QK_K, 144);
  const out = floatOutput('Q4_K', nElements, dst);
  const f16 = f16Table();
  const sm = new Uint8Array(2);
  let y = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 144) {
    const d = f16At(src, o, f16);
    const min = f16At(src, o + 2, f16);
    for (let j = 0; j < 4; j++) {
      const q = o + 16 + 32 * j;
      scaleMinK4(2 * j, src, o + 4, sm);
      const d1 = fround(d * sm[0]);
      const m1 = fround(min * sm[1]);
      scaleMinK4(2 * j + 1, src, o + 4, sm);
      const d2 = fround(d * sm[0]);
      const m2 = fround(min * sm[1]);
      for (let l = 0; l < 32; l++) out[y++] = fround(d1 * (src[q + l] & 0x0f)) - m1;
      for (let l = 0; l < 32; l++) out[y++] = fround(d2 * (src[q + l] >> 4)) - m2;
    }
  }
  return out;
}

export function dequantizeQ5_K(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q5_K', src, nElements, QK_K, 176);
  const out = floatOutput('Q5_K', nElements, dst);
  const f16 = f16Table();
  const sm = new Uint8Array(2);
  let y = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 176) {
    const d = f16At(src, o, f16);
    const min = f16At(src, o + 2, f16);
    const qh = o + 16;
    let u1 = 1;
    let u2 = 2;
    for (let j = 0; j < 4; j++) {
      const ql = o + 48 + 32 * j;
      scaleMinK4(2 * j, src, o + 4, sm);
      const d1 = fround(d * sm[0]);
      const m1 = fround(min * sm[1]);
      scaleMinK4(2 * j + 1, src, o + 4, sm);
      const d2 = fround(d * sm[0]);
      const m2 = fround(min * sm[1]);
      for (let l = 0; l < 32; l++) out[y++] = fround(d1 * ((src[ql + l] & 0x0f) + ((src[qh + l] & u1) !== 0 ? 16 : 0))) - m1;
      for (let l = 0; l < 32; l++) out[y++] = fround(d2 * ((src[ql + l] >> 4) + ((src[qh + l] & u2) !== 0 ? 16 : 0))) - m2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
  return out;
}

export function dequantizeQ6_K(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q6_K', src, nElements, QK_K, 210);
  const out = floatOutput('Q6_K', nElements, dst);
  const f16 = f16Table();
  for (let i = 0, o = 0; i < nb; i++, o += 210) {
    const d = f16At(src, o + 208, f16);
    for (let n = 0; n < 2; n++) {
      const y = i * QK_K + 128 * n;
      const ql = o + 64 * n;
      const qh = o + 128 + 32 * n;
      const sc = o + 192 + 8 * n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l];
        const q1 = ((src[ql + l] & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = fround(d * ((src[sc + is] << 24) >> 24)) * q1;
        out[y + l + 32] = fround(d * ((src[sc + is + 2] << 24) >> 24)) * q2;
        out[y + l + 64] = fround(d * ((src[sc + is + 4] << 24) >> 24)) * q3;
        out[y + l + 96] = fround(d * ((src[sc + is + 6] << 24) >> 24)) * q4;
      }
    }
  }
  return out;
}

export function dequantizeQ8_K(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q8_K', src, nElements, QK_K, 292);
  const out = floatOutput('Q8_K', nElements, dst);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 292) {
    const d = view.getFloat32(o, true);
    for (let j = 0; j < QK_K; j++) out[y++] = d * ((src[o + 4 + j] << 24) >> 24);
  }
  return out;
}

// =========================================================================== scale searches

/** Result slot for makeQkx2Quants' second output (the negated min), to avoid allocating. */
let qkx2Min = 0;
/** makeQkx2Quants' x − min for the current min (f32, as ggml computes it inside the loop). */
const qkx2Shifted = new Float32Array(32);
/** makeQkx2Quants' copy of the sub-block's values, read once per candidate. */
const qkx2Values = new Float32Array(32);

/**
 * ggml's make_qkx2_quants: asymmetric n-value quantization x ≈ scale·L + min, L in [0, nmax].
 * Starts from the min/max fit, then tries nstep+1 scales (rmin + rdelta·is + nmax)/(max − min),
 * solving the weighted least-squares scale and min for each and keeping the best by weighted
 * |error| (useMad) or squared error. Returns the scale; the negated min lands in qkx2Min.
 */
function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = weights[0];
  let sumX = fround(sumW * x[xo]);
  let negativeWeight = sumW < 0;
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    if (w < 0) negativeWeight = true;
    sumW = fround(sumW + w);
    sumX = fround(sumX + fround(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    qkx2Min = -min;
    return 0;
  }
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  let bestMad = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = nearestInt(fround(iscale * fround(xi - min)));
    const li = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lo + i] = li;
    let diff = fround(fround(fround(scale * li) + min) - xi);
    diff = useMad ? Math.abs(diff) : fround(diff * diff);
    bestMad = fround(bestMad + fround(weights[i] * diff));
  }
  if (nstep < 1) {
    qkx2Min = -min;
    return scale;
  }
  // Note: a better candidate replaces `min`, and later candidates use it (in x − min and in
  // max − min) — ggml's loop does the same. x − min is kept in xm and refreshed only then.
  const xm = qkx2Shifted;
  const xs = qkx2Values;
  // Exact-arithmetic sums for the error bound below (f64: w·x is exact, w·x² and w·|x| nearly).
  let wSum = 0;
  let wxSum = 0;
  let wx2Sum = 0;
  let wAbsXSum = 0;
  let absXMax = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    xs[i] = xi;
    xm[i] = xi - min;
    const w = weights[i];
    const wx = w * xi;
    wSum += w;
    wxSum += wx;
    wx2Sum += wx * xi;
    wAbsXSum += Math.abs(wx);
    if (Math.abs(xi) > absXMax) absXMax = Math.abs(xi);
  }
  const screen = !useMad && !negativeWeight;
  let range = fround(max - min);
  for (let is = 0; is <= nstep; is++) {
    iscale = fround(fround(fround(rmin + fround(rdelta * is)) + nmax) / range);
    // Codes of this candidate. When they equal the previous candidate's, so do its sums, its
    // scale and min and its error: that error was already kept (then this one is not smaller)
    // or already beaten, and ggml's loop changes nothing. The first candidate always counts.
    let changed = is === 0 ? 1 : 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(fround(iscale * xm[i]));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      changed |= l ^ Laux[i];
      Laux[i] = l;
    }
    if (changed === 0) continue;
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    let wlSum = 0;
    let wl2Sum = 0;
    let wlxSum = 0;
    for (let i = 0; i < n; i++) {
      const l = Laux[i];
      const wlExact = weights[i] * l; // exact in f64: a 24-bit by a 6-bit integer
      const wl = fround(wlExact);
      sumL = fround(sumL + wl);
      sumL2 = fround(sumL2 + fround(wl * l));
      sumXL = fround(sumXL + fround(wl * xs[i]));
      wlSum += wlExact;
      wl2Sum += wlExact * l;
      wlxSum += wlExact * xs[i];
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
    let thisMin = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = fround(sumXL / sumL2);
    }
    if (
      screen &&
      qkx2ErrorLowerBound(n, nmax, thisScale, thisMin, wSum, wxSum, wx2Sum, wAbsXSum, absXMax, wlSum, wl2Sum, wlxSum) >= bestMad
    ) {
      continue;
    }
    // With no negative weight every term is ≥ 0 (or NaN), and an f32 sum of such terms never
    // decreases: once it reaches bestMad this candidate cannot win, so the rest is not summed.
    const stopAt = negativeWeight ? NaN : bestMad;
    let mad = 0;
    if (useMad) {
      for (let i = 0; i < n; i++) {
        const diff = fround(fround(fround(thisScale * Laux[i]) + thisMin) - xs[i]);
        mad = fround(mad + fround(weights[i] * Math.abs(diff)));
        if (mad >= stopAt) break;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const diff = fround(fround(fround(thisScale * Laux[i]) + thisMin) - xs[i]);
        mad = fround(mad + fround(weights[i] * fround(diff * diff)));
        if (mad >= stopAt) break;
      }
    }
    if (mad < bestMad) {
      for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
      bestMad = mad;
      scale = thisScale;
      if (thisMin !== min) {
        min = thisMin;
        for (let i = 0; i < n; i++) xm[i] = xs[i] - min;
        range = fround(max - min);
      }
    }
  }
  qkx2Min = -min;
  return scale;
}

const F32_EPS = 2 ** -24; // unit roundoff of f32
const F32_TINY = 2 ** -150; // largest absolute error of an f32 rounding that underflows

/**
 * A lower bound, proven for any inputs, on the weighted squared error makeQkx2Quants computes in
 * f32 for codes L under scale s and min m (weights ≥ 0): Σ fl(w·fl(d'²)) summed in f32, where
 * d' = fl(fl(fl(s·L) + m) − x). When it is at least the best error so far the candidate cannot
 * win and its error need not be summed (every other candidate is summed exactly).
 *
 * From the exact sums (f64, given as Σw, Σwx, Σwx², Σw|x|, Σwl, Σwl², Σwlx):
 *  - E = Σw(sL + m − x)² expanded in those sums; its f64 evaluation errs by far less than
 *    2^-44 of the sum of its terms' magnitudes (a few dozen roundings of 2^-53 each).
 *  - Each d' is within Δ = u·(3|s|·nmax + 2|m| + max|x|)(1+4u) + 3·2^-150 of sL + m − x (three
 *    roundings, u = 2^-24), so by the triangle inequality in the w-weighted norm
 *    Σw·d'² ≥ (√E − Δ·√Σw)².
 *  - fl(d'²) and fl(w·…) lose at most a factor (1 − u) each plus 2^-150 on underflow, and an f32
 *    sum of n terms ≥ 0 at least (1 − u)^(n−1) of their sum.
 * The result is shrunk by a further 2^-20 for the rounding of this computation itself. NaN or
 * infinite inputs give NaN or a bound no comparison accepts wrongly (NaN compares false).
 */
function qkx2ErrorLowerBound(
  n: number,
  nmax: number,
  s: number,
  m: number,
  wSum: number,
  wxSum: number,
  wx2Sum: number,
  wAbsXSum: number,
  absXMax: number,
  wlSum: number,
  wl2Sum: number,
  wlxSum: number,
): number {
  const sL2 = s * s * wl2Sum;
  const sml = 2 * s * m * wlSum;
  const m2 = m * m * wSum;
  const e = sL2 + sml + m2 - 2 * s * wlxSum - 2 * m * wxSum + wx2Sum;
  // |Σwlx| ≤ nmax·Σw|x| bounds the magnitude of the terms whose sums may cancel.
  const size = sL2 + Math.abs(sml) + m2 + 2 * (Math.abs(s) * nmax + Math.abs(m)) * wAbsXSum + wx2Sum;
  const eLow = e - size * 2 ** -44;
  if (!(eLow > 0)) return 0;
  const delta = F32_EPS * (3 * Math.abs(s) * nmax + 2 * Math.abs(m) + absXMax) * (1 + 4 * F32_EPS) + 3 * F32_TINY;
  const r = Math.sqrt(eLow) - delta * Math.sqrt(wSum) * (1 + 2 ** -40);
  if (!(r > 0)) return 0;
  return (r * r * (1 - (n + 1) * F32_EPS) - F32_TINY * (wSum + n)) * (1 - 2 ** -20);
}

/**
 * True when makeQxQuants' f32 test fl(Σlx²) > fl(best·Σl²) is sure to fail for a candidate whose
 * exact sums are lxSum = Σ fl(w·x)·l and l2Sum = Σ w·l² (weights ≥ 0), so its f32 sums need not
 * be formed. With w ≥ 0 every term of Σlx has the sign of the candidate's −1/max (l rounds
 * −x/max·const), so no sum cancels: each f32 sum of n terms is within (n+2)·u of the exact one,
 * plus 2^-144 per term for underflow, and each final product within u plus 2^-150. The f64
 * arithmetic here is held to a further 2^-40. NaN anywhere makes the comparison false.
 */
function qxCannotWin(n: number, lxSum: number, l2Sum: number, best: number): boolean {
  const g = (n + 2) * F32_EPS;
  const lxHigh = Math.abs(lxSum) * (1 + g) + n * 2 ** -144;
  const l2Low = l2Sum * (1 - g) - n * 2 ** -144;
  return lxHigh * lxHigh * (1 + F32_EPS) * (1 + 2 ** -40) + 2 * F32_TINY <= best * l2Low * (1 - F32_EPS) * (1 - 2 ** -40);
}

/** makeQxQuants' per-value weights, fl(w·x) and current codes (n ≤ 32). */
const qxWeights = new Float32Array(32);
const qxWeightedValues = new Float32Array(32);
const qxCodes = new Int8Array(32);

/**
 * ggml's make_qx_quants with rmse_type 1: symmetric values L − nmax in [−nmax, nmax−1], trying 18
 * scales around −nmax/max and keeping the one with the largest (Σwxl)²/Σwl² (the least weighted
 * squared error). The weights are x² (what Q6_K uses without an importance matrix) or, given
 * `qw`, qw[qo .. qo+n) (the importance-weighted path of Q3_K, Q6_K, Q4_0 and Q5_0).
 */
export function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Uint8Array,
  lo: number,
  qw?: Float32Array,
  qo = 0,
): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  // Per value, the weight w and fl(w·x) every candidate uses, computed once.
  const ws = qxWeights;
  const wxs = qxWeightedValues;
  const codes = qxCodes;
  let iscale = fround(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  let negativeWeight = false;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const w = qw ? qw[qo + i] : fround(xi * xi);
    if (w < 0) negativeWeight = true;
    const wx = fround(w * xi);
    ws[i] = w;
    wxs[i] = wx;
    let l = nearestInt(fround(iscale * xi));
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    codes[i] = l;
    L[lo + i] = l + nmax;
    sumlx = fround(sumlx + fround(wx * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  let scale = suml2 !== 0 ? fround(sumlx / suml2) : 0;
  let best = fround(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fround(-fround(nmax + fround(TENTH * is)) / max);
    // Codes equal to the previous candidate's (or the first fit's) give the same sums: that one
    // was kept (keeping it again changes neither scale nor best) or beaten, so skip them.
    let changed = 0;
    let lxSum = 0; // Σ fl(w·x)·l and Σ w·l², exact in f64 (a 24-bit float times an integer < 2^11)
    let l2Sum = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(fround(iscale * x[xo + i]));
      l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
      changed |= l ^ codes[i];
      codes[i] = l;
      lxSum += wxs[i] * l;
      l2Sum += ws[i] * l * l;
    }
    if (changed === 0) continue;
    if (!negativeWeight && qxCannotWin(n, lxSum, l2Sum, best)) continue;
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const l = codes[i];
      sumlx = fround(sumlx + fround(wxs[i] * l));
      suml2 = fround(suml2 + fround(fround(ws[i] * l) * l));
    }
    if (suml2 > 0 && fround(sumlx * sumlx) > fround(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = codes[i] + nmax;
      scale = fround(sumlx / suml2);
      best = fround(scale * sumlx);
    }
  }
  return scale;
}

/**
 * ggml's make_q3_quants with do_rmse: symmetric L in [−nmax, nmax−1] from −nmax/max, then up to 5
 * passes of coordinate descent that move one value at a time when that raises (Σwxl)²/Σwl²
 * (w = x²). L is left biased by +nmax; returns Σwxl/Σwl².
 */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  const iscale = fround(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    let l = nearestInt(fround(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const w = fround(xi * xi);
      const li = L[lo + i];
      let slx = fround(sumlx - fround(fround(w * xi) * li));
      if (slx > 0) {
        let sl2 = fround(suml2 - fround(fround(w * li) * li));
        let newL = nearestInt(fround(fround(xi * sl2) / slx));
        newL = Math.max(-nmax, Math.min(nmax - 1, newL));
        if (newL !== li) {
          slx = fround(slx + fround(fround(w * xi) * newL));
          sl2 = fround(sl2 + fround(fround(w * newL) * newL));
          if (sl2 > 0 && fround(fround(slx * slx) * suml2) > fround(fround(sumlx * sumlx) * sl2)) {
            L[lo + i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (nChanged === 0) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] += nmax;
  return fround(sumlx / suml2);
}

// =========================================================================== importance-weighted searches

/** make_qkx3_quants' search (as llama.cpp calls it): 37 candidate scales from (nmax − 0.9)/(max − min). */
const QKX3_RMIN = fround(-0.9);
const QKX3_RDELTA = fround(0.05);
const QKX3_NSTEP = 36;

/**
 * ggml's make_qkx3_quants with weights given (the importance-weighted asymmetric fit): the same
 * algorithm as make_qkx2_quants with a wider, finer scale search and squared error. Returns the
 * scale; the negated min is read with {@link lastNegatedMin}.
 */
export function makeQkx3Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
): number {
  return makeQkx2Quants(n, nmax, x, xo, weights, L, lo, Laux, QKX3_RMIN, QKX3_RDELTA, QKX3_NSTEP, false);
}

/** The negated min of the last makeQkx3Quants call. */
export function lastNegatedMin(): number {
  return qkx2Min;
}

/**
 * ggml's make_qp_quants: quantize n non-negative values (sub-block scales or mins) to [0, nmax]
 * against one scale, chosen among 9 candidates by weighted squared error, then refined by up to 5
 * passes of coordinate descent on (Σwxl)²/Σwl². L is a byte array as in C: a negative code wraps.
 */
function makeQpQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array, qw: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = max > x[i] ? max : x[i];
  if (max < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  let iscale = fround(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(fround(iscale * x[i]));
  const scale = fround(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = fround(x[i] - fround(scale * L[i]));
    bestMse = fround(bestMse + fround(fround(qw[i] * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = fround(fround(fround(TENTH * is) + nmax) / max);
    const scaleIs = fround(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.min(nmax, nearestInt(fround(iscaleIs * x[i])));
      const diff = fround(x[i] - fround(scaleIs * l));
      mse = fround(mse + fround(fround(qw[i] * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.min(nmax, nearestInt(fround(iscale * x[i])));
    L[i] = l;
    const w = qw[i];
    sumlx = fround(sumlx + fround(fround(w * x[i]) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[i];
      const li = L[i];
      let slx = fround(sumlx - fround(fround(w * x[i]) * li));
      let sl2 = fround(suml2 - fround(fround(w * li) * li));
      if (slx > 0 && sl2 > 0) {
        const newL = Math.min(nmax, nearestInt(fround(fround(x[i] * sl2) / slx)));
        if (newL !== li) {
          slx = fround(slx + fround(fround(w * x[i]) * newL));
          sl2 = fround(sl2 + fround(fround(w * newL) * newL));
          if (fround(fround(slx * slx) * suml2) > fround(fround(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (nChanged === 0) break;
  }
  return suml2 > 0 ? fround(sumlx / suml2) : 0;
}

/**
 * llama.cpp's importance-weighted per-value weights for one sub-block: qw·√(σ² + x²), where qw
 * is the imatrix's mean x² of the activation column the value multiplies. Returns their sum.
 */
export function importanceSubBlock(
  src: Float32Array,
  xo: number,
  n: number,
  sigma2: number,
  importance: Float32Array,
  qo: number,
  weights: Float32Array,
): number {
  let sumW = 0;
  for (let l = 0; l < n; l++) {
    const xi = src[xo + l];
    weights[l] = fround(importance[qo + l] * fround(Math.sqrt(fround(sigma2 + fround(xi * xi)))));
    sumW = fround(sumW + weights[l]);
  }
  return sumW;
}

/** Σx² over n values, accumulated in f32 in order as ggml does. */
export function sumSquares(src: Float32Array, xo: number, n: number): number {
  let s = 0;
  for (let l = 0; l < n; l++) s = fround(s + fround(src[xo + l] * src[xo + l]));
  return s;
}

// =========================================================================== quantize

/** Q2_K's last step: re-round each value against its quantized sub-block scale and min, then pack. */
function finishQ2K(src: Float32Array, x: number, out: Uint8Array, o: number, L: Uint8Array, f16: Float32Array): void {
  const dAll = f16At(out, o + 80, f16);
  const mAll = f16At(out, o + 82, f16);
  for (let j = 0; j < 16; j++) {
    const d = fround(dAll * (out[o + j] & 0x0f));
    if (d === 0) continue;
    const dm = fround(mAll * (out[o + j] >> 4));
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(fround(fround(src[x + 16 * j + ii] + dm) / d));
      L[16 * j + ii] = Math.max(0, Math.min(3, l));
    }
  }
  // qs byte l of each 32-byte half holds values l, l+32, l+64, l+96 of that 128-value half.
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      out[o + 16 + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
    }
  }
}

/** Q2_K: per 16-value sub-block an asymmetric 2-bit fit (|x| weights, mean abs error), then the
 * 16 scales and 16 mins are quantized to 4 bits against their maxima and the values re-rounded. */
export function quantizeQ2_K(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q2_K', src, QK_K, 84, dst);
  const L = new Uint8Array(QK_K);
  const Laux = new Uint8Array(16);
  const weights = new Float32Array(16);
  const mins = new Float32Array(16);
  const scales = new Float32Array(16);
  const f16 = f16Table();
  const q4scale = 15;
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 84) {
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(src[x + 16 * j + l]);
      scales[j] = makeQkx2Quants(16, 3, src, x + 16 * j, weights, L, 16 * j, Laux, -0.5, TENTH, 15, true);
      mins[j] = qkx2Min;
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    if (maxScale > 0) {
      const iscale = fround(q4scale / maxScale);
      for (let j = 0; j < 16; j++) out[o + j] = nearestInt(fround(iscale * scales[j])) & 0xff;
      writeF16(out, o + 80, fround(maxScale / q4scale));
    } else {
      for (let j = 0; j < 16; j++) out[o + j] = 0;
      writeF16(out, o + 80, 0);
    }
    if (maxMin > 0) {
      const iscale = fround(q4scale / maxMin);
      for (let j = 0; j < 16; j++) out[o + j] |= (nearestInt(fround(iscale * mins[j])) << 4) & 0xff;
      writeF16(out, o + 82, fround(maxMin / q4scale));
    } else {
      writeF16(out, o + 82, 0);
    }
    finishQ2K(src, x, out, o, L, f16);
  }
  return out;
}

/**
 * Q2_K with importance weights (quantize_row_q2_K_impl): sub-blocks fitted with make_qkx3_quants
 * under qw·√(σ² + x²), and the scales and mins quantized with make_qp_quants under each
 * sub-block's total weight. Rows are `importance.length` values long.
 */
export function quantizeQ2_KWeighted(src: Float32Array, importance: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q2_K', src, QK_K, 84, dst);
  const rowLength = importanceRowLength('Q2_K', src, importance, QK_K);
  const L = new Uint8Array(QK_K);
  const Laux = new Uint8Array(16);
  const weights = new Float32Array(16);
  const mins = new Float32Array(16);
  const scales = new Float32Array(16);
  const sw = new Float32Array(16);
  const Ls = new Uint8Array(16);
  const Lm = new Uint8Array(16);
  const f16 = f16Table();
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 84) {
    const qb = x % rowLength;
    const sigma2 = fround(sumSquares(src, x, QK_K) / QK_K);
    for (let j = 0; j < 16; j++) {
      sw[j] = importanceSubBlock(src, x + 16 * j, 16, sigma2, importance, qb + 16 * j, weights);
      scales[j] = makeQkx3Quants(16, 3, src, x + 16 * j, weights, L, 16 * j, Laux);
      mins[j] = qkx2Min;
    }
    const dm = makeQpQuants(16, 15, scales, Ls, sw);
    const mm = makeQpQuants(16, 15, mins, Lm, sw);
    writeF16(out, o + 80, dm);
    writeF16(out, o + 82, mm);
    for (let j = 0; j < 16; j++) out[o + j] = Ls[j] | (Lm[j] << 4);
    finishQ2K(src, x, out, o, L, f16);
  }
  return out;
}

/**
 * Q3_K's last step: re-round each value against its quantized sub-block scale (codes in the 12
 * bytes at o+96, d at o+108), then split off the third bit into hmask and pack the low two.
 */
function finishQ3K(src: Float32Array, x: number, out: Uint8Array, o: number, L: Int8Array | Uint8Array, f16: Float32Array): void {
  const sc = o + 96;
  const dAll = f16At(out, o + 108, f16);
  for (let j = 0; j < 16; j++) {
    const d = fround(dAll * (q3kScaleCode(out, sc, j) - 32));
    if (d === 0) continue;
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(fround(src[x + 16 * j + ii] / d));
      L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
    }
  }
  // hmask: the third bit of value j goes to byte j%32, bit j/32.
  out.fill(0, o, o + 32);
  for (let j = 0; j < QK_K; j++) {
    if (L[j] > 3) {
      out[o + (j & 31)] |= 1 << (j >> 5);
      L[j] -= 4;
    }
  }
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      out[o + 32 + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
    }
  }
}

/** Write Q3_K sub-block j's 6-bit scale code l (0..63): low nibble to bytes 0..7, top 2 bits to 8..11. */
function putQ3KScaleCode(out: Uint8Array, sc: number, j: number, l: number): void {
  if (j < 8) out[sc + j] = l & 0x0f;
  else out[sc + j - 8] |= (l & 0x0f) << 4;
  l >>= 4;
  out[sc + 8 + (j % 4)] |= l << (2 * (j >> 2));
}

/** Q3_K: per 16-value sub-block a symmetric 3-bit fit, scales to 6 bits against the largest |scale|. */
export function quantizeQ3_K(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q3_K', src, QK_K, 110, dst);
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  const f16 = f16Table();
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 110) {
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, src, x + 16 * j, L, 16 * j);
      const s = Math.abs(scales[j]);
      if (s > amax) {
        amax = s;
        maxScale = scales[j];
      }
    }
    const sc = o + 96;
    out.fill(0, sc, sc + 12);
    if (maxScale !== 0) {
      const iscale = fround(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l = (nearestInt(fround(iscale * scales[j])) << 24) >> 24; // int8_t
        putQ3KScaleCode(out, sc, j, Math.max(-32, Math.min(31, l)) + 32);
      }
      writeF16(out, o + 108, fround(1 / iscale));
    } else {
      writeF16(out, o + 108, 0);
    }
    finishQ3K(src, x, out, o, L, f16);
  }
  return out;
}

/**
 * Q3_K with importance weights (quantize_row_q3_K_impl): each sub-block fitted with make_qx_quants
 * under qw·√(σ² + x²) (σ² = 2·mean x²), and the 16 scales themselves quantized to 6 bits with
 * make_qx_quants under each sub-block's total weight.
 */
export function quantizeQ3_KWeighted(src: Float32Array, importance: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q3_K', src, QK_K, 110, dst);
  const rowLength = importanceRowLength('Q3_K', src, importance, QK_K);
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  const weights = new Float32Array(16);
  const sw = new Float32Array(16);
  const Ls = new Uint8Array(16);
  const f16 = f16Table();
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 110) {
    const qb = x % rowLength;
    const sigma2 = fround(fround(2 * sumSquares(src, x, QK_K)) / QK_K);
    for (let j = 0; j < 16; j++) {
      sw[j] = importanceSubBlock(src, x + 16 * j, 16, sigma2, importance, qb + 16 * j, weights);
      scales[j] = makeQxQuants(16, 4, src, x + 16 * j, L, 16 * j, weights);
    }
    const sc = o + 96;
    out.fill(0, sc, sc + 12);
    const dBlock = makeQxQuants(16, 32, scales, 0, Ls, 0, sw);
    for (let j = 0; j < 16; j++) putQ3KScaleCode(out, sc, j, Ls[j]);
    writeF16(out, o + 108, dBlock);
    finishQ3K(src, x, out, o, L, f16);
  }
  return out;
}

/** Shared Q4_K/Q5_K scale step: per 32-value sub-block an asymmetric fit weighted by rms + |x|. */
function fitSubBlocks(
  src: Float32Array,
  x: number,
  nmax: number,
  rmin: number,
  nstep: number,
  L: Uint8Array,
  Laux: Uint8Array,
  weights: Float32Array,
  scales: Float32Array,
  mins: Float32Array,
): void {
  for (let j = 0; j < 8; j++) {
    const xo = x + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fround(sumX2 + fround(src[xo + l] * src[xo + l]));
    const avX = fround(Math.sqrt(fround(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = fround(avX + Math.abs(src[xo + l]));
    scales[j] = makeQkx2Quants(32, nmax, src, xo, weights, L, 32 * j, Laux, rmin, TENTH, nstep, false);
    mins[j] = qkx2Min;
  }
}

/**
 * The importance-weighted Q4_K/Q5_K scale step (quantize_row_q4_K_impl / _q5_K_impl): each 32-value
 * sub-block fitted with make_qkx3_quants under qw·√(σ² + x²), σ² = 2·mean x² over the super-block;
 * then the 8 scales and 8 mins quantized to 6 bits with make_qp_quants under each sub-block's total
 * weight. Writes the scale bytes, d and dmin. `clampCodes` is Q5_K's extra MIN(63, …).
 */
function fitSubBlocksWeighted(
  src: Float32Array,
  x: number,
  nmax: number,
  importance: Float32Array,
  qb: number,
  out: Uint8Array,
  o: number,
  clampCodes: boolean,
  s: K4Scratch,
): void {
  const sigma2 = fround(fround(2 * sumSquares(src, x, QK_K)) / QK_K);
  for (let j = 0; j < 8; j++) {
    s.sw[j] = importanceSubBlock(src, x + 32 * j, 32, sigma2, importance, qb + 32 * j, s.weights);
    s.scales[j] = makeQkx3Quants(32, nmax, src, x + 32 * j, s.weights, s.L, 32 * j, s.Laux);
    s.mins[j] = qkx2Min;
  }
  const dBlock = makeQpQuants(8, 63, s.scales, s.Ls, s.sw);
  const mBlock = makeQpQuants(8, 63, s.mins, s.Lm, s.sw);
  const sc = o + 4;
  out.fill(0, sc, sc + 12);
  for (let j = 0; j < 8; j++) {
    const ls = clampCodes ? Math.min(63, s.Ls[j]) : s.Ls[j];
    const lm = clampCodes ? Math.min(63, s.Lm[j]) : s.Lm[j];
    if (j < 4) {
      out[sc + j] = ls;
      out[sc + j + 4] = lm;
    } else {
      out[sc + j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
      out[sc + j - 4] |= (ls >> 4) << 6;
      out[sc + j] |= (lm >> 4) << 6;
    }
  }
  writeF16(out, o, dBlock);
  writeF16(out, o + 2, mBlock);
}

/** Working arrays of a Q4_K/Q5_K quantizer, allocated once per call. */
interface K4Scratch {
  readonly L: Uint8Array;
  readonly Laux: Uint8Array;
  readonly weights: Float32Array;
  readonly scales: Float32Array;
  readonly mins: Float32Array;
  readonly sw: Float32Array;
  readonly Ls: Uint8Array;
  readonly Lm: Uint8Array;
  readonly sm: Uint8Array;
  readonly f16: Float32Array;
}

function k4Scratch(): K4Scratch {
  return {
    L: new Uint8Array(QK_K),
    Laux: new Uint8Array(32),
    weights: new Float32Array(32),
    scales: new Float32Array(8),
    mins: new Float32Array(8),
    sw: new Float32Array(8),
    Ls: new Uint8Array(8),
    Lm: new Uint8Array(8),
    sm: new Uint8Array(2),
    f16: f16Table(),
  };
}

/** Write 8 scales and mins as 6-bit codes into the 12 scale bytes at `sc`, plus d and dmin at `o`. */
function packScalesMinsK4(out: Uint8Array, o: number, sc: number, scales: Float32Array, mins: Float32Array): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? fround(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fround(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(fround(invScale * scales[j])) & 0xff);
    const lm = Math.min(63, nearestInt(fround(invMin * mins[j])) & 0xff);
    if (j < 4) {
      out[sc + j] = ls;
      out[sc + j + 4] = lm;
    } else {
      out[sc + j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
      out[sc + j - 4] |= (ls >> 4) << 6;
      out[sc + j] |= (lm >> 4) << 6;
    }
  }
  writeF16(out, o, fround(maxScale / 63));
  writeF16(out, o + 2, fround(maxMin / 63));
}

/** Re-round every value against its sub-block's quantized scale and min. */
function requantizeK4(
  src: Float32Array,
  x: number,
  out: Uint8Array,
  o: number,
  nmax: number,
  L: Uint8Array,
  f16: Float32Array,
  sm: Uint8Array,
): void {
  const dAll = f16At(out, o, f16);
  const mAll = f16At(out, o + 2, f16);
  for (let j = 0; j < 8; j++) {
    scaleMinK4(j, out, o + 4, sm);
    const d = fround(dAll * sm[0]);
    if (d === 0) continue;
    const dm = fround(mAll * sm[1]);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fround(fround(src[x + 32 * j + ii] + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

/** Q4_K's values: 32 bytes per 64 values, low nibble value l, high nibble value l+32. */
function packQ4K(out: Uint8Array, o: number, L: Uint8Array): void {
  for (let j = 0; j < QK_K; j += 64) {
    const q = o + 16 + j / 2;
    for (let l = 0; l < 32; l++) out[q + l] = L[j + l] | (L[j + l + 32] << 4);
  }
}

/** Q5_K's values: qh byte l, bit 2k ← fifth bit of value 64k+l, bit 2k+1 ← of value 64k+32+l; ql as Q4_K. */
function packQ5K(out: Uint8Array, o: number, L: Uint8Array): void {
  const qh = o + 16;
  out.fill(0, qh, qh + 32);
  let m1 = 1;
  let m2 = 2;
  for (let n = 0; n < QK_K; n += 64) {
    const ql = o + 48 + n / 2;
    for (let j = 0; j < 32; j++) {
      let l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        out[qh + j] |= m1;
      }
      let l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        out[qh + j] |= m2;
      }
      out[ql + j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
  }
}

export function quantizeQ4_K(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q4_K', src, QK_K, 144, dst);
  const s = k4Scratch();
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 144) {
    fitSubBlocks(src, x, 15, -1, 20, s.L, s.Laux, s.weights, s.scales, s.mins);
    out.fill(0, o + 4, o + 16);
    packScalesMinsK4(out, o, o + 4, s.scales, s.mins);
    requantizeK4(src, x, out, o, 15, s.L, s.f16, s.sm);
    packQ4K(out, o, s.L);
  }
  return out;
}

/** Q4_K with importance weights (quantize_row_q4_K_impl); rows are `importance.length` values long. */
export function quantizeQ4_KWeighted(src: Float32Array, importance: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q4_K', src, QK_K, 144, dst);
  const rowLength = importanceRowLength('Q4_K', src, importance, QK_K);
  const s = k4Scratch();
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 144) {
    fitSubBlocksWeighted(src, x, 15, importance, x % rowLength, out, o, false, s);
    requantizeK4(src, x, out, o, 15, s.L, s.f16, s.sm);
    packQ4K(out, o, s.L);
  }
  return out;
}

export function quantizeQ5_K(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q5_K', src, QK_K, 176, dst);
  const s = k4Scratch();
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 176) {
    fitSubBlocks(src, x, 31, -0.5, 15, s.L, s.Laux, s.weights, s.scales, s.mins);
    out.fill(0, o + 4, o + 16);
    packScalesMinsK4(out, o, o + 4, s.scales, s.mins);
    requantizeK4(src, x, out, o, 31, s.L, s.f16, s.sm);
    packQ5K(out, o, s.L);
  }
  return out;
}

/** Q5_K with importance weights (quantize_row_q5_K_impl); rows are `importance.length` values long. */
export function quantizeQ5_KWeighted(src: Float32Array, importance: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q5_K', src, QK_K, 176, dst);
  const rowLength = importanceRowLength('Q5_K', src, importance, QK_K);
  const s = k4Scratch();
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 176) {
    fitSubBlocksWeighted(src, x, 31, importance, x % rowLength, out, o, true, s);
    requantizeK4(src, x, out, o, 31, s.L, s.f16, s.sm);
    packQ5K(out, o, s.L);
  }
  return out;
}

/**
 * Q6_K: per 16-value sub-block a symmetric 6-bit fit (make_qx_quants, weights x² or, given
 * `importance` whose length is the row length, the imatrix's qw as llama.cpp's _impl passes them),
 * then the 16 scales to 8 bits against the largest |scale| and the values re-rounded.
 */
function quantizeQ6KRows(src: Float32Array, importance: Float32Array | undefined, dst: Uint8Array | undefined): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q6_K', src, QK_K, 210, dst);
  const rowLength = importance ? importanceRowLength('Q6_K', src, importance, QK_K) : 0;
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  const f16 = f16Table();
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 210) {
    let maxScale = 0;
    let maxAbsScale = 0;
    const qb = importance ? x % rowLength : 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, src, x + 16 * ib, L, 16 * ib, importance, qb + 16 * ib);
      scales[ib] = scale;
      const a = Math.abs(scale);
      if (a > maxAbsScale) {
        maxAbsScale = a;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, o, o + 210);
      continue;
    }
    const iscale = fround(-128 / maxScale);
    writeF16(out, o + 208, fround(1 / iscale));
    for (let ib = 0; ib < 16; ib++) out[o + 192 + ib] = Math.min(127, nearestInt(fround(iscale * scales[ib]))) & 0xff;
    const dAll = f16At(out, o + 208, f16);
    for (let j = 0; j < 16; j++) {
      const d = fround(dAll * ((out[o + 192 + j] << 24) >> 24));
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fround(src[x + 16 * j + ii] / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    // Per 128 values: ql[l] = low nibbles of values l | l+64<<4, ql[l+32] = of l+32 | l+96<<4;
    // qh[l] = top 2 bits of values l, l+32, l+64, l+96 at bits 0, 2, 4, 6.
    for (let j = 0; j < QK_K; j += 128) {
      const ql = o + j / 2;
      const qh = o + 128 + j / 4;
      for (let l = 0; l < 32; l++) {
        const a = L[j + l];
        const b = L[j + l + 32];
        const c = L[j + l + 64];
        const e = L[j + l + 96];
        out[ql + l] = (a & 0x0f) | ((c & 0x0f) << 4);
        out[ql + l + 32] = (b & 0x0f) | ((e & 0x0f) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
  return out;
}

export function quantizeQ6_K(src: Float32Array, dst?: Uint8Array): Uint8Array {
  return quantizeQ6KRows(src, undefined, dst);
}

/** Q6_K with importance weights (quantize_row_q6_K_impl); rows are `importance.length` values long. */
export function quantizeQ6_KWeighted(src: Float32Array, importance: Float32Array, dst?: Uint8Array): Uint8Array {
  return quantizeQ6KRows(src, importance, dst);
}

/** Q8_K (activations): d = max/−127 with the sign of the largest-magnitude value, q = nearest_int(x/d). */
export function quantizeQ8_K(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q8_K', src, QK_K, 292, dst);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 292) {
    const max = signedAbsMax(src, x, QK_K);
    if (max === 0) {
      out.fill(0, o, o + 292 - 32); // ggml leaves bsums untouched here; we zero them too below
      for (let j = 0; j < 16; j++) view.setInt16(o + 260 + 2 * j, 0, true);
      continue;
    }
    const iscale = fround(-127 / max);
    for (let j = 0; j < QK_K; j++) out[o + 4 + j] = Math.min(127, nearestInt(fround(iscale * src[x + j]))) & 0xff;
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let ii = 0; ii < 16; ii++) sum += (out[o + 4 + 16 * j + ii] << 24) >> 24;
      view.setInt16(o + 260 + 2 * j, sum, true);
    }
    view.setFloat32(o, fround(1 / iscale), true);
  }
  return out;
}
