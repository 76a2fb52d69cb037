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

/**
 * ggml's nearest_int: adds 1.5·2^23 in f32 (round to nearest, ties to even) and reads the integer
 * back from the mantissa. For |x| ≤ 4194303 that is round-half-even; outside that range (never hit
 * by the codecs' own inputs, but possible with NaN or huge values) the same bit trick is replayed.
 */
export function nearestInt(x: number): number {
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
