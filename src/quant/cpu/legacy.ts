/**
 * Legacy 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
 *
 * Block layouts (little-endian, no padding):
 *   Q4_0  d:f16 qs[16]                 x[j] = (nibble − 8)·d          low nibbles hold j<16, high j≥16
 *   Q4_1  d:f16 m:f16 qs[16]           x[j] = nibble·d + m
 *   Q5_0  d:f16 qh:u32 qs[16]          x[j] = (nibble | bit_j(qh)<<4 − 16)·d
 *   Q5_1  d:f16 m:f16 qh:u32 qs[16]    x[j] = (nibble | bit_j(qh)<<4)·d + m
 *   Q8_0  d:f16 qs:i8[32]              x[j] = q·d
 *
 * Dequantize and quantize follow ggml's reference rows (dequantize_row_*, quantize_row_*_ref) in
 * f32; the quantizers are what llama-quantize runs when no importance matrix is given. The
 * *Weighted quantizers are its importance-matrix path (quantize_row_*_impl); Q8_0 has none.
 */

import { f16Table, writeF16 } from './float.ts';
import { signedAbsMax as signedAbsMaxShared, truncToInt as truncToIntShared } from './rounding.ts';
import { importanceSubBlock, lastNegatedMin, makeQkx3Quants, makeQxQuants, sumSquares } from './kquants.ts';
import { assertTensorBytes, floatOutput, importanceRowLength, quantizeOutput } from './validate.ts';

// Local bindings: hot loops call these per value, and a transpiled import may be a property getter.
const fround = Math.fround;
const truncToInt = truncToIntShared;
const signedAbsMax = signedAbsMaxShared;

const QK = 32;
const FLT_MAX = fround(3.4028234663852886e38);

// ------------------------------------------------------------------------------------- Q4_0

export function dequantizeQ4_0(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q4_0', src, nElements, QK, 18);
  const out = floatOutput('Q4_0', nElements, dst);
  const f16 = f16Table();
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 18, y += QK) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[y + j] = ((q & 0x0f) - 8) * d; // small int × f32 is exact in f64; the store rounds once
      out[y + j + 16] = ((q >> 4) - 8) * d;
    }
  }
  return out;
}

/** Max-magnitude value m; d = m/−8 so m itself maps to −8 exactly; values round via trunc(x/d + 8.5). */
export function quantizeQ4_0(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q4_0', src, QK, 18, dst);
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK, o += 18) {
    const max = signedAbsMax(src, x, QK);
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(out, o, d);
    for (let j = 0; j < 16; j++) {
      const x0 = fround(src[x + j] * id);
      const x1 = fround(src[x + j + 16] * id);
      const q0 = Math.min(15, int8(truncToInt(fround(x0 + 8.5))));
      const q1 = Math.min(15, int8(truncToInt(fround(x1 + 8.5))));
      out[o + 2 + j] = (q0 & 0xff) | ((q1 << 4) & 0xff);
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------- Q4_1

export function dequantizeQ4_1(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q4_1', src, nElements, QK, 20);
  const out = floatOutput('Q4_1', nElements, dst);
  const f16 = f16Table();
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 20, y += QK) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    const m = f16[src[o + 2] | (src[o + 3] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 4 + j];
      out[y + j] = fround((q & 0x0f) * d) + m;
      out[y + j + 16] = fround((q >> 4) * d) + m;
    }
  }
  return out;
}

/** d = (max − min)/15, m = min; q = min(15, trunc((x − min)/d + 0.5)). */
export function quantizeQ4_1(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q4_1', src, QK, 20, dst);
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK, o += 20) {
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < QK; j++) {
      const v = src[x + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fround(fround(max - min) / 15);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(out, o, d);
    writeF16(out, o + 2, min);
    for (let j = 0; j < 16; j++) {
      const x0 = fround(fround(src[x + j] - min) * id);
      const x1 = fround(fround(src[x + j + 16] - min) * id);
      const q0 = Math.min(15, int8(truncToInt(fround(x0 + 0.5))));
      const q1 = Math.min(15, int8(truncToInt(fround(x1 + 0.5))));
      out[o + 4 + j] = (q0 & 0xff) | ((q1 << 4) & 0xff);
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------- Q5_0

function readU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

export function dequantizeQ5_0(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q5_0', src, nElements, QK, 22);
  const out = floatOutput('Q5_0', nElements, dst);
  const f16 = f16Table();
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 22, y += QK) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    const qh = readU32(src, o + 2);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 6 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      out[y + j] = (((q & 0x0f) | h0) - 16) * d;
      out[y + j + 16] = (((q >> 4) | h1) - 16) * d;
    }
  }
  return out;
}

export function quantizeQ5_0(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q5_0', src, QK, 22, dst);
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK, o += 22) {
    const max = signedAbsMax(src, x, QK);
    const d = fround(max / -16);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(out, o, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const x0 = fround(src[x + j] * id);
      const x1 = fround(src[x + j + 16] * id);
      const q0 = Math.min(31, int8(truncToInt(fround(x0 + 16.5)))) & 0xff;
      const q1 = Math.min(31, int8(truncToInt(fround(x1 + 16.5)))) & 0xff;
      out[o + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 & 0x10) >>> 4) << j;
      qh |= ((q1 & 0x10) >>> 4) << (j + 16);
    }
    writeU32(out, o + 2, qh >>> 0);
  }
  return out;
}

// ------------------------------------------------------------------------------------- Q5_1

export function dequantizeQ5_1(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q5_1', src, nElements, QK, 24);
  const out = floatOutput('Q5_1', nElements, dst);
  const f16 = f16Table();
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 24, y += QK) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    const m = f16[src[o + 2] | (src[o + 3] << 8)];
    const qh = readU32(src, o + 4);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 8 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      out[y + j] = fround(((q & 0x0f) | h0) * d) + m;
      out[y + j + 16] = fround(((q >> 4) | h1) * d) + m;
    }
  }
  return out;
}

export function quantizeQ5_1(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q5_1', src, QK, 24, dst);
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK, o += 24) {
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < QK; j++) {
      const v = src[x + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fround(fround(max - min) / 31);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(out, o, d);
    writeF16(out, o + 2, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const x0 = fround(fround(src[x + j] - min) * id);
      const x1 = fround(fround(src[x + j + 16] - min) * id);
      const q0 = truncToInt(fround(x0 + 0.5)) & 0xff; // (uint8_t) cast, no clamp in ggml
      const q1 = truncToInt(fround(x1 + 0.5)) & 0xff;
      out[o + 8 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 & 0x10) >>> 4) << j;
      qh |= ((q1 & 0x10) >>> 4) << (j + 16);
    }
    writeU32(out, o + 4, qh >>> 0);
  }
  return out;
}

// ------------------------------------------------------------------------------------- importance-weighted

/**
 * The importance-weighted legacy quantizers' common loop (quantize_row_q4_0_impl and its siblings):
 * per row σ² = mean x², per 32-value block the weights qw·√(σ² + x²), where qw are the imatrix's
 * weights of the block's columns; `block` fits and writes one block from them.
 */
function quantizeWeightedBlocks(
  type: string,
  blockBytes: number,
  src: Float32Array,
  importance: Float32Array,
  dst: Uint8Array | undefined,
  block: (x: number, weights: Float32Array, out: Uint8Array, o: number) => void,
): Uint8Array {
  const { out } = quantizeOutput(type, src, QK, blockBytes, dst);
  const rowLength = importanceRowLength(type, src, importance, QK);
  const weights = new Float32Array(QK);
  for (let row = 0, o = 0; row < src.length; row += rowLength) {
    const sigma2 = fround(sumSquares(src, row, rowLength) / rowLength);
    for (let b = 0; b < rowLength; b += QK, o += blockBytes) {
      importanceSubBlock(src, row + b, QK, sigma2, importance, b, weights);
      block(row + b, weights, out, o);
    }
  }
  return out;
}

/** The fifth bits of 32 codes as Q5_0/Q5_1's qh word: bit j ← code j, bit j+16 ← code j+16. */
function packQ5Block(L: Uint8Array, out: Uint8Array, qs: number, qhAt: number): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const q0 = L[j];
    const q1 = L[j + 16];
    out[qs + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
    qh |= ((q0 & 0x10) >>> 4) << j;
    qh |= ((q1 & 0x10) >>> 4) << (j + 16);
  }
  writeU32(out, qhAt, qh >>> 0);
}

/** Q4_0 with importance weights: a symmetric make_qx_quants fit per block. Rows are `importance.length` long. */
export function quantizeQ4_0Weighted(src: Float32Array, importance: Float32Array, dst?: Uint8Array): Uint8Array {
  const L = new Uint8Array(QK);
  return quantizeWeightedBlocks('Q4_0', 18, src, importance, dst, (x, weights, out, o) => {
    writeF16(out, o, makeQxQuants(QK, 8, src, x, L, 0, weights));
    for (let j = 0; j < 16; j++) out[o + 2 + j] = L[j] | (L[j + 16] << 4);
  });
}

/** Q4_1 with importance weights: an asymmetric make_qkx3_quants fit per block. */
export function quantizeQ4_1Weighted(src: Float32Array, importance: Float32Array, dst?: Uint8Array): Uint8Array {
  const L = new Uint8Array(QK);
  const Laux = new Uint8Array(QK);
  return quantizeWeightedBlocks('Q4_1', 20, src, importance, dst, (x, weights, out, o) => {
    writeF16(out, o, makeQkx3Quants(QK, 15, src, x, weights, L, 0, Laux));
    writeF16(out, o + 2, -lastNegatedMin());
    for (let j = 0; j < 16; j++) out[o + 4 + j] = L[j] | (L[j + 16] << 4);
  });
}

/** Q5_0 with importance weights: a symmetric make_qx_quants fit per block. */
export function quantizeQ5_0Weighted(src: Float32Array, importance: Float32Array, dst?: Uint8Array): Uint8Array {
  const L = new Uint8Array(QK);
  return quantizeWeightedBlocks('Q5_0', 22, src, importance, dst, (x, weights, out, o) => {
    writeF16(out, o, makeQxQuants(QK, 16, src, x, L, 0, weights));
    packQ5Block(L, out, o + 6, o + 2);
  });
}

/** Q5_1 with importance weights: an asymmetric make_qkx3_quants fit per block. */
export function quantizeQ5_1Weighted(src: Float32Array, importance: Float32Array, dst?: Uint8Array): Uint8Array {
  const L = new Uint8Array(QK);
  const Laux = new Uint8Array(QK);
  return quantizeWeightedBlocks('Q5_1', 24, src, importance, dst, (x, weights, out, o) => {
    writeF16(out, o, makeQkx3Quants(QK, 31, src, x, weights, L, 0, Laux));
    writeF16(out, o + 2, -lastNegatedMin());
    packQ5Block(L, out, o + 8, o + 4);
  });
}

// ------------------------------------------------------------------------------------- Q8_0

export function dequantizeQ8_0(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('Q8_0', src, nElements, QK, 34);
  const out = floatOutput('Q8_0', nElements, dst);
  const f16 = f16Table();
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 34, y += QK) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < QK; j++) out[y + j] = ((src[o + 2 + j] << 24) >> 24) * d;
  }
  return out;
}

/** d = max|x|/127; q = roundf(x/d) (half away from zero). */
export function quantizeQ8_0(src: Float32Array, dst?: Uint8Array): Uint8Array {
  const { nBlocks, out } = quantizeOutput('Q8_0', src, QK, 34, dst);
  for (let i = 0, x = 0, o = 0; i < nBlocks; i++, x += QK, o += 34) {
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(src[x + j]);
      amax = amax > a ? amax : a; // ggml's MAX(a, b): keeps the left value unless b is larger
    }
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(out, o, d);
    for (let j = 0; j < QK; j++) {
      const v = fround(src[x + j] * id);
      out[o + 2 + j] = roundHalfAway(v) & 0xff;
    }
  }
  return out;
}

function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** Wrap to int8 like a C cast of an int. */
function int8(v: number): number {
  return (v << 24) >> 24;
}
