/**
 * Float formats: F32, F16 (IEEE binary16) and BF16 (bfloat16), and the scalar conversions every
 * block codec uses for its f16 scales.
 *
 * The conversions reproduce ggml bit for bit:
 *  - f16 → f32 is exact (every f16 value, subnormals, ±inf and NaN payloads included).
 *  - f32 → f16 rounds to nearest, ties to even, overflows to ±inf, keeps subnormals, and turns every
 *    NaN into 0x7E00 with the input's sign (ggml's portable path, which ggml-base is built with on
 *    x86; F16C hardware would keep payload bits instead).
 *  - f32 → bf16 rounds to nearest even; a NaN keeps its top 16 bits with the quiet bit (0x40) forced.
 *
 * Tensors are little-endian; so are all hosts lowbit runs on (x86, ARM, WebAssembly, GPUs).
 */

import { assertTensorBytes, floatOutput } from './validate.ts';

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** f32 bit pattern of every f16 bit pattern, built on first use (256 KiB). */
let f16Bits: Uint32Array | null = null;
let f16Values: Float32Array | null = null;

function halfBitsToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN, payload kept
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // normal: rebias 15 → 127
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal: value = mant · 2^-24; normalise the mantissa into an f32 normal.
  let e = 113; // exponent field of 2^-14 in f32
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

function buildF16Table(): void {
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) bits[h] = halfBitsToFloatBits(h);
  f16Bits = bits;
  f16Values = new Float32Array(bits.buffer);
}

/** f32 bit patterns indexed by f16 bit pattern (shared table; do not modify). */
export function f16BitsTable(): Uint32Array {
  if (!f16Bits) buildF16Table();
  return f16Bits!;
}

/** f32 values indexed by f16 bit pattern (shared table; do not modify). */
export function f16Table(): Float32Array {
  if (!f16Values) buildF16Table();
  return f16Values!;
}

/** The f32 value of an f16 bit pattern. */
export function f16ToF32(h: number): number {
  if (!f16Values) buildF16Table();
  return f16Values![h & 0xffff];
}

/** Round an f32 bit pattern to the nearest f16 bit pattern (ties to even). */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 112; // f16 exponent field if the value is a normal f16
  if (e >= 31) return sign | 0x7c00; // ≥ 2^16: beyond the largest finite f16 even after rounding
  if (e <= 0) {
    // f16 subnormal (or zero): shift the full significand so that bit 0 weighs 2^-24.
    if (e < -10) return sign; // below 2^-25: rounds to zero (2^-25 itself ties to even zero too)
    const sig = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let h = sig >>> shift;
    const rem = sig & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) !== 0)) h++; // a carry to 0x400 is the smallest normal
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry may reach 0x7C00 = inf: correct
  return sign | h;
}

/** Round a number (taken as f32 first) to the nearest f16 bit pattern. */
export function f32ToF16(v: number): number {
  scratchF32[0] = v;
  return f32BitsToF16(scratchU32[0]);
}

/** The f32 value of a bf16 bit pattern (exact). */
export function bf16ToF32(h: number): number {
  scratchU32[0] = (h & 0xffff) << 16;
  return scratchF32[0];
}

/** Round an f32 bit pattern to bf16 the way ggml does (nearest even; NaN made quiet). */
export function f32BitsToBf16(x: number): number {
  x >>>= 0;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return (((x + 0x7fff + ((x >>> 16) & 1)) >>> 0) >>> 16) & 0xffff;
}

export function f32ToBf16(v: number): number {
  scratchF32[0] = v;
  return f32BitsToBf16(scratchU32[0]);
}

/** Read the little-endian f16 at `offset` of `bytes` as f32. */
export function readF16(bytes: Uint8Array, offset: number): number {
  if (!f16Values) buildF16Table();
  return f16Values![bytes[offset] | (bytes[offset + 1] << 8)];
}

/** Write `v` (rounded to f16) little-endian at `offset`. */
export function writeF16(bytes: Uint8Array, offset: number, v: number): void {
  const h = f32ToF16(v);
  bytes[offset] = h & 0xff;
  bytes[offset + 1] = h >>> 8;
}

// ---------------------------------------------------------------------------------------------
// Tensor codecs. Every dequantize has the shape (src bytes, element count, optional output) and
// every quantize (values, optional output bytes).

export function dequantizeF32(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  assertTensorBytes('F32', src, nElements, 1, 4);
  const out = floatOutput('F32', nElements, dst);
  // Copy bytes (not values) so NaN payloads survive and unaligned sources work.
  new Uint8Array(out.buffer, out.byteOffset, nElements * 4).set(src.subarray(0, nElements * 4));
  return out;
}

export function quantizeF32(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const out = floatBytesOutput('F32', src.length, 4, dst);
  out.set(new Uint8Array(src.buffer, src.byteOffset, src.length * 4));
  return out;
}

export function dequantizeF16(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  assertTensorBytes('F16', src, nElements, 1, 2);
  const out = floatOutput('F16', nElements, dst);
  const table = f16BitsTable();
  const outBits = new Uint32Array(out.buffer, out.byteOffset, nElements);
  for (let i = 0, o = 0; i < nElements; i++, o += 2) outBits[i] = table[src[o] | (src[o + 1] << 8)];
  return out;
}

export function quantizeF16(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const out = floatBytesOutput('F16', src.length, 2, dst);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0, o = 0; i < bits.length; i++, o += 2) {
    const h = f32BitsToF16(bits[i]);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
  }
  return out;
}

export function dequantizeBF16(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  assertTensorBytes('BF16', src, nElements, 1, 2);
  const out = floatOutput('BF16', nElements, dst);
  const outBits = new Uint32Array(out.buffer, out.byteOffset, nElements);
  for (let i = 0, o = 0; i < nElements; i++, o += 2) outBits[i] = ((src[o] << 16) | (src[o + 1] << 24)) >>> 0;
  return out;
}

export function quantizeBF16(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const out = floatBytesOutput('BF16', src.length, 2, dst);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0, o = 0; i < bits.length; i++, o += 2) {
    const h = f32BitsToBf16(bits[i]);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
  }
  return out;
}

function floatBytesOutput(type: string, n: number, bytesPer: number, dst: Uint8Array | undefined): Uint8Array {
  if (!dst) return new Uint8Array(n * bytesPer);
  if (dst.length < n * bytesPer) throw new RangeError(`${type}: output holds ${dst.length} bytes, ${n * bytesPer} needed`);
  return dst;
}
