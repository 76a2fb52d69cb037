/**
 * Ternary (BitNet b1.58) formats: TQ1_0, TQ2_0 (upstream ggml) and I2_S (microsoft/BitNet's fork).
 *
 * TQ2_0  qs[64] d:f16 — 2-bit codes (0,1,2 → −1,0,+1), least-significant pair first: byte m of
 *        each 32-byte half holds values m, m+32, m+64, m+96 of that half's 128 values in bits
 *        1:0, 3:2, 5:4, 7:6.
 * TQ1_0  qs[48] qh[4] d:f16 — base-3 packing, 5 trits per byte stored as ceil(v·256/243) so the
 *        k-th trit is the integer part of (byte·3^k mod 256)·3/256. qs[0..31] hold values
 *        m + 32n (n = 0..4, 160 values), qs[32..47] the next 80 as m + 16n, qh[0..3] the last 16
 *        as j + 4n (n = 0..3, the fifth trit slot unused).
 * I2_S   2-bit codes, 128 values per 32 bytes, most-significant pair first: value k of the tensor
 *        is (byte[(k/128)·32 + k%32] >> (6 − 2·((k%128)/32))) & 3; one f32 scale per tensor at
 *        byte n/4, then 28 bytes of padding (32-byte trailer). Weight = (code − 1)·scale; code 3
 *        is unused by the converter and decodes as +2·scale, matching BitNet's dot product
 *        (Σ code·y − Σ y).
 */

import { ModelFormatError } from '../../errors.ts';
import { GGMLType, quantLayout } from '../types.ts';
import { f16Table, writeF16 } from './float.ts';
import { lroundf as lroundfShared } from './rounding.ts';
import { assertTensorBytes, floatOutput, quantizeOutput } from './validate.ts';

// Local bindings: hot loops call these per value, and a transpiled import may be a property getter.
const fround = Math.fround;
const lroundf = lroundfShared;

const QK_K = 256;
const POW3 = [1, 3, 9, 27, 81, 243];

// ------------------------------------------------------------------------------------- TQ1_0

export function dequantizeTQ1_0(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('TQ1_0', src, nElements, QK_K, 54);
  const out = floatOutput('TQ1_0', nElements, dst);
  const f16 = f16Table();
  let y = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 54) {
    const d = f16[src[o + 52] | (src[o + 53] << 8)];
    for (let n = 0; n < 5; n++) {
      for (let m = 0; m < 32; m++) out[y++] = (((((src[o + m] * POW3[n]) & 0xff) * 3) >> 8) - 1) * d;
    }
    for (let n = 0; n < 5; n++) {
      for (let m = 0; m < 16; m++) out[y++] = (((((src[o + 32 + m] * POW3[n]) & 0xff) * 3) >> 8) - 1) * d;
    }
    for (let n = 0; n < 4; n++) {
      for (let j = 0; j < 4; j++) out[y++] = (((((src[o + 48 + j] * POW3[n]) & 0xff) * 3) >> 8) - 1) * d;
    }
  }
  return out;
}

/** Base-3 pack trits (x/amax rounded half away from zero, +1) most-significant first, then
 * store ceil(v·256/243) so the decoder can extract each trit with one multiply and shift. */
function packTrits(src: Float32Array, x: number, stride: number, count: number, id: number): number {
  let q = 0;
  for (let n = 0; n < count; n++) q = (q * 3 + lroundf(fround(src[x + n * stride] * id)) + 1) & 0xff;
  if (count === 4) q = (q * 3) & 0xff; // qh: the first value goes to the most significant trit
  return Math.floor((q * 256 + 242) / 243) & 0xff;
}

export function quantizeTQ1_0(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('TQ1_0', src, QK_K, 54, dst);
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 54) {
    const d = absMax(src, x, QK_K);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(out, o + 52, d);
    for (let m = 0; m < 32; m++) out[o + m] = packTrits(src, x + m, 32, 5, id);
    for (let m = 0; m < 16; m++) out[o + 32 + m] = packTrits(src, x + 160 + m, 16, 5, id);
    for (let j = 0; j < 4; j++) out[o + 48 + j] = packTrits(src, x + 240 + j, 4, 4, id);
  }
  return out;
}

// ------------------------------------------------------------------------------------- TQ2_0

export function dequantizeTQ2_0(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('TQ2_0', src, nElements, QK_K, 66);
  const out = floatOutput('TQ2_0', nElements, dst);
  const f16 = f16Table();
  let y = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 66) {
    const d = f16[src[o + 64] | (src[o + 65] << 8)];
    for (let j = 0; j < 64; j += 32) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let m = 0; m < 32; m++) out[y++] = (((src[o + j + m] >> shift) & 3) - 1) * d;
      }
    }
  }
  return out;
}

export function quantizeTQ2_0(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('TQ2_0', src, QK_K, 66, dst);
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK_K, o += 66) {
    const d = absMax(src, x, QK_K);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(out, o + 64, d);
    for (let j = 0; j < 64; j += 32) {
      const xh = x + 4 * j; // each 32-byte half covers 128 values
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let n = 0; n < 4; n++) q += ((lroundf(fround(src[xh + m + 32 * n] * id)) + 1) & 3) << (2 * n);
        out[o + j + m] = q & 0xff;
      }
    }
  }
  return out;
}

/** ggml's amax loop: MAX(amax, |v|) keeps the running value unless |v| is larger. */
function absMax(src: Float32Array, x: number, n: number): number {
  let amax = 0;
  for (let j = 0; j < n; j++) {
    const a = Math.abs(src[x + j]);
    amax = amax > a ? amax : a;
  }
  return amax;
}

// -------------------------------------------------------------------------------------- I2_S

/** Elements per I2_S packing block (32 bytes). Tensors must hold a whole number of them. */
export const I2S_BLOCK = quantLayout(GGMLType.I2_S)!.rowMultiple;
/** Bytes after the codes: the f32 per-tensor scale, padded (the layout's trailer). */
const I2S_TRAILER_BYTES = quantLayout(GGMLType.I2_S)!.trailerBytes;

function assertI2SCount(nElements: number): void {
  if (!Number.isSafeInteger(nElements) || nElements < 0 || nElements % I2S_BLOCK !== 0) {
    throw new ModelFormatError(`I2_S: ${nElements} elements is not a multiple of ${I2S_BLOCK} (the 32-byte packing block)`);
  }
}

/** The per-tensor scale stored after the codes of an I2_S tensor of nElements values. */
export function i2sScale(src: Uint8Array, nElements: number): number {
  assertI2SCount(nElements);
  const need = nElements / 4 + I2S_TRAILER_BYTES;
  if (src.length < need) throw new ModelFormatError(`I2_S: ${nElements} elements need ${need} bytes, got ${src.length}`);
  return i2sTensorParams(src.subarray(nElements / 4, need)).tensorScale;
}

/** The per-tensor parameters held in an I2_S trailer: the scale every code is multiplied by. */
export function i2sTensorParams(trailer: Uint8Array): { tensorScale: number } {
  if (trailer.length < 4) throw new ModelFormatError(`I2_S: the trailer holds ${trailer.length} bytes, the scale needs 4`);
  return { tensorScale: new DataView(trailer.buffer, trailer.byteOffset, trailer.byteLength).getFloat32(0, true) };
}

/**
 * Decode `count` I2_S values from `codes`, the packed bytes of just those values (byte n/4 onwards
 * for values starting at element n, n a multiple of 128), so a tensor can be decoded in chunks.
 */
export function dequantizeI2SCodes(codes: Uint8Array, count: number, scale: number, dst?: Float32Array): Float32Array {
  assertI2SCount(count);
  if (codes.length < count / 4) throw new ModelFormatError(`I2_S: ${count} elements need ${count / 4} code bytes, got ${codes.length}`);
  const out = floatOutput('I2_S', count, dst);
  const s = fround(scale);
  // (code − 1)·scale for codes 0..3, computed once in f32.
  const lut = new Float32Array([-1 * s, 0 * s, s, 2 * s]);
  for (let b = 0, y = 0; y < count; b += 32, y += I2S_BLOCK) {
    for (let g = 0; g < 32; g++) {
      const byte = codes[b + g];
      out[y + g] = lut[byte >> 6];
      out[y + 32 + g] = lut[(byte >> 4) & 3];
      out[y + 64 + g] = lut[(byte >> 2) & 3];
      out[y + 96 + g] = lut[byte & 3];
    }
  }
  return out;
}

/** Whole I2_S tensor (codes + trailer) → values. */
export function dequantizeI2S(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const scale = i2sScale(src, nElements);
  return dequantizeI2SCodes(src.subarray(0, nElements / 4), nElements, scale, dst);
}

/**
 * Ternary weights → I2_S tensor bytes (codes + 32-byte trailer), as BitNet's converter writes them:
 * scale = max|x| over the whole tensor; |x| < 1e-6 → code 1 (zero), else code 2 for x > 0 and 0
 * for x < 0. Only ternary inputs ({−s, 0, +s}) survive the round trip exactly. The 28 padding bytes
 * are written as zeros.
 */
export function quantizeI2S(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const n = src.length;
  assertI2SCount(n);
  const size = n / 4 + I2S_TRAILER_BYTES;
  if (dst && dst.length < size) throw new RangeError(`I2_S: output holds ${dst.length} bytes, ${size} needed`);
  const out = dst ?? new Uint8Array(size);
  const max = quantizeI2SCodes(src, out);
  out.set(i2sTrailer(max), n / 4);
  return out;
}

/**
 * The code bytes of `src` (a multiple of 128 values) into `dst`, returning max|x| over them. A
 * value's code depends only on its own sign and size, so a tensor can be packed in chunks and its
 * trailer written from the largest of the chunks' maxima ({@link i2sTrailer}).
 */
export function quantizeI2SCodes(src: Float32Array, dst: Uint8Array): number {
  const n = src.length;
  assertI2SCount(n);
  if (dst.length < n / 4) throw new RangeError(`I2_S: output holds ${dst.length} bytes, ${n / 4} needed`);
  dst.fill(0, 0, n / 4);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(src[i]);
    if (a > max) max = a; // fmax semantics: NaN never wins
  }
  for (let i = 0; i < n; i++) {
    const v = src[i];
    // v·max > 0 in BitNet's converter: with max = 0 every value is ±0 or NaN, so this is v > 0.
    const code = Math.abs(v) < 1e-6 ? 1 : v > 0 ? 2 : 0;
    const k = i % I2S_BLOCK;
    dst[(i - k) / 4 + (k & 31)] |= code << (6 - 2 * (k >> 5));
  }
  return max;
}

/** The 32-byte I2_S trailer: the f32 tensor scale (max|x|), then zero padding. */
export function i2sTrailer(tensorScale: number): Uint8Array {
  const trailer = new Uint8Array(I2S_TRAILER_BYTES);
  new DataView(trailer.buffer).setFloat32(0, tensorScale, true);
  return trailer;
}
