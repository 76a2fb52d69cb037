/**
 * ggml's scalar rounding helpers, reproduced exactly. All codec arithmetic is f32 in C; JavaScript
 * computes in f64, so every intermediate result is passed through Math.fround. For +, −, ×, ÷ and
 * sqrt of f32 operands, rounding the f64 result to f32 gives the correctly rounded f32 result
 * (f64 has more than 2·24+2 significand bits), so `fround(a op b)` is bit-identical to C's `a op b`.
 */

export const fround = Math.fround;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);
const MAGIC = 12582912; // 1.5 · 2^23: adding it leaves the rounded integer in the low mantissa bits
const F64_MAGIC = 6755399441055744; // 1.5 · 2^52, the same trick in f64

/**
 * ggml's nearest_int of an f32 value x (every caller passes one): adds 1.5·2^23 in f32 (round to
 * nearest, ties to even) and reads the integer back from the mantissa. For |x| < 2^22 that is x
 * rounded half to even, which x + 1.5·2^52 − 1.5·2^52 in f64 computes exactly too (x is exact in
 * f64 and the sum's unit in the last place is 1), with one rounding instead of two. Outside that
 * range (never hit by the codecs' own inputs, but possible with NaN or huge values) the f32 bit
 * trick is replayed.
 */
export function nearestInt(x: number): number {
  if (x > -4194304 && x < 4194304) return (x + F64_MAGIC - F64_MAGIC) | 0;
  const v = fround(x + MAGIC);
  if (v >= 8388608 && v < 16777216) return v - MAGIC;
  scratchF32[0] = v;
  return (scratchU32[0] & 0x007fffff) - 0x00400000;
}

/** C's lroundf for the small values the codecs give it: round half away from zero. */
export function lroundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** C conversion of a float to an integer type: truncate toward zero (NaN → 0 here, UB in C). */
export function truncToInt(x: number): number {
  return Math.trunc(x) | 0;
}

/**
 * The value of largest magnitude among x[start .. start+n) (the first one on ties; 0 when all are
 * zero or NaN): ggml's block quantizers derive their scale from it, keeping its sign.
 */
export function signedAbsMax(x: Float32Array, start: number, n: number): number {
  let max = 0;
  let amax = 0;
  for (let i = start; i < start + n; i++) {
    const ax = Math.abs(x[i]!);
    if (ax > amax) {
      amax = ax;
      max = x[i]!;
    }
  }
  return max;
}
