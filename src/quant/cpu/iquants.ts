/**
 * Importance-quantized (IQ) formats. Only the CPU dequantizers: llama-quantize makes these types
 * with an importance matrix, which lowbit does not reproduce.
 *
 * IQ4_NL  d:f16 qs[16] — 32 values as 4-bit indices into the fixed non-linear table
 *         kvalues_iq4nl; x[j] = d·table[qs[j] & 15] and x[16 + j] = d·table[qs[j] >> 4]
 *         (low nibbles hold elements 0..15, high nibbles 16..31).
 * IQ4_XS  d:f16 scales_h:u16 scales_l[4] qs[128] — 256 values, eight sub-blocks of 32 laid out
 *         as IQ4_NL's qs; sub-block s has the 6-bit scale ls = (nibble s&1 of scales_l[s>>1]) |
 *         (bits 2s..2s+1 of scales_h) << 4 and x = d·(ls − 32)·table[index].
 * IQ3_S   d:f16 qs[64] qh[8] signs[32] scales[4] — 256 values in groups of 4 from the 512-entry
 *         grid IQ3S_GRID: group k (values 4k..4k+3) of sub-block s (32 values) is entry
 *         qs[8s + k] | (bit k of qh[s]) << 8; value n of the block is negative when bit n % 8 of
 *         signs[n / 8] is set; sub-block s is scaled by d·(1 + 2·(nibble s & 1 of scales[s >> 1])).
 * IQ3_XXS d:f16 qs[64] aux[8]:u32 — 256 values in groups of 4 from the 256-entry IQ3XXS_GRID:
 *         group k of sub-block s is entry qs[8s + k]; aux[s] holds four 7-bit sign fields
 *         (bits 7l.., one per 8 values, the 8th sign by parity: ksigns) and the scale
 *         d·(0.5 + aux[s] >> 28)·0.5.
 * IQ2_XXS d:f16 then per sub-block s two u32: bytes 0..3 of the first are the IQ2XXS_GRID entries
 *         of values 8l..8l+7; the second holds 7-bit sign fields and the scale d·(0.5 + top
 *         nibble)·0.25.
 * IQ2_XS  d:f16 qs[32]:u16 scales[8] — qs[4s + l] & 511 is the IQ2XS_GRID entry of values
 *         8l..8l+7 of sub-block s, qs >> 9 their 7-bit sign field; the two halves of sub-block s
 *         are scaled by d·(0.5 + nibble)·0.25 from scales[s] (low nibble first).
 * IQ2_S   d:f16 qs[32] signs[32] qh[8] scales[8] — entry qs[4s + l] | ((qh[s] >> 2l) & 3) << 8 of
 *         the 1024-entry IQ2S_GRID, all 8 signs stored in signs[4s + l]; scales as IQ2_XS.
 * IQ1_S   d:f16 qs[32] qh[8]:u16 — entry qs[4s + l] | ((qh[s] >> 3l) & 7) << 8 of IQ1S_GRID
 *         (values −1, 0, 1), x = d·(2·((qh[s] >> 12) & 7) + 1)·(grid + δ) with δ = ∓1/8 by bit 15.
 * IQ1_M   qs[32] qh[16] scales[8] — d is the f16 made of the top nibbles of the four u16 scales
 *         words; entry qs[4s + l] | ((qh[2s + (l >> 1)] >> 4(l & 1)) & 7) << 8, δ's sign from bit 3
 *         of that nibble; the halves of sub-block s take 3-bit scales from bits 6(s & 1)
 *         and 6(s & 1) + 3 of scales word s >> 1: d·(2·scale + 1).
 */

import { f16Table } from './float.ts';
import { assertTensorBytes, floatOutput } from './validate.ts';
import {
  IQ1_LEVELS,
  IQ1S_GRID,
  IQ2_LEVELS,
  IQ2S_GRID,
  IQ2XS_GRID,
  IQ2XXS_GRID,
  IQ3S_GRID,
  IQ3S_LEVELS,
  IQ3XXS_GRID,
  IQ3XXS_LEVELS,
  gridValues,
  ksigns,
} from './iq-grids.ts';

/** ggml's kvalues_iq4nl: the 16 levels of IQ4_NL, denser near zero where weights cluster. */
export const IQ4_NL_VALUES: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

const QK4_NL = 32;
const IQ4_NL_BLOCK_BYTES = 18;

export function dequantizeIQ4_NL(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ4_NL', src, nElements, QK4_NL, IQ4_NL_BLOCK_BYTES);
  const out = floatOutput('IQ4_NL', nElements, dst);
  const f16 = f16Table();
  const values = IQ4_NL_VALUES;
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += IQ4_NL_BLOCK_BYTES, y += QK4_NL) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[y + j] = values[q & 0x0f] * d; // small int × f32 is exact in f64; the store rounds once, as f32 does
      out[y + j + 16] = values[q >> 4] * d;
    }
  }
  return out;
}

const QK_K = 256;
const IQ4_XS_BLOCK_BYTES = 136;

export function dequantizeIQ4_XS(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ4_XS', src, nElements, QK_K, IQ4_XS_BLOCK_BYTES);
  const out = floatOutput('IQ4_XS', nElements, dst);
  const f16 = f16Table();
  const values = IQ4_NL_VALUES;
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += IQ4_XS_BLOCK_BYTES) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    const scalesHigh = src[o + 2] | (src[o + 3] << 8);
    for (let s = 0; s < 8; s++, y += 32) {
      const ls = ((src[o + 4 + (s >> 1)] >> (4 * (s & 1))) & 15) | (((scalesHigh >> (2 * s)) & 3) << 4);
      // f16 × a 6-bit integer is exact in f32, as ggml's f32 product is; then one rounding per value.
      const dl = d * (ls - 32);
      const q = o + 8 + 16 * s;
      for (let j = 0; j < 16; j++) {
        out[y + j] = dl * values[src[q + j] & 0x0f];
        out[y + j + 16] = dl * values[src[q + j] >> 4];
      }
    }
  }
  return out;
}

const IQ3_S_BLOCK_BYTES = 110;
let iq3sValues: Int8Array | undefined;

export function dequantizeIQ3_S(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ3_S', src, nElements, QK_K, IQ3_S_BLOCK_BYTES);
  const out = floatOutput('IQ3_S', nElements, dst);
  const f16 = f16Table();
  const grid = (iq3sValues ??= gridValues(IQ3S_GRID, 4, 3, IQ3S_LEVELS));
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += IQ3_S_BLOCK_BYTES) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let s = 0; s < 8; s++) {
      // f16 × a 5-bit odd integer × a 4-bit level: every product is exact in f32, as in ggml.
      const db = d * (1 + 2 * ((src[o + 106 + (s >> 1)] >> (4 * (s & 1))) & 15));
      const high = src[o + 66 + s];
      for (let k = 0; k < 8; k++, y += 4) {
        const g = 4 * (src[o + 2 + 8 * s + k] | (((high >> k) & 1) << 8));
        const signs = src[o + 74 + 4 * s + (k >> 1)] >> (4 * (k & 1));
        for (let j = 0; j < 4; j++) out[y + j] = (signs >> j) & 1 ? -db * grid[g + j] : db * grid[g + j];
      }
    }
  }
  return out;
}

/** Grid value tables, expanded on first use. */
const grids = new Map<string, Int8Array>();
function grid(name: string, make: () => Int8Array): Int8Array {
  let g = grids.get(name);
  if (!g) grids.set(name, (g = make()));
  return g;
}
const signTable = (): Uint8Array => Uint8Array.from({ length: 128 }, (_, i) => ksigns(i));
let ksignTable: Uint8Array | undefined;

/** Eight values d·grid[g + j]·(−1 if bit j of signs), ggml's f32 products being exact here. */
function put8(out: Float32Array, y: number, db: number, values: Int8Array, g: number, signs: number): void {
  for (let j = 0; j < 8; j++) out[y + j] = (signs >> j) & 1 ? -db * values[g + j] : db * values[g + j];
}

export function dequantizeIQ3_XXS(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ3_XXS', src, nElements, QK_K, 98);
  const out = floatOutput('IQ3_XXS', nElements, dst);
  const f16 = f16Table();
  const values = grid('iq3xxs', () => gridValues(IQ3XXS_GRID, 4, 3, IQ3XXS_LEVELS));
  const signs = (ksignTable ??= signTable());
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 98) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let s = 0; s < 8; s++) {
      const a = o + 66 + 4 * s;
      const aux = (src[a] | (src[a + 1] << 8) | (src[a + 2] << 16) | (src[a + 3] << 24)) >>> 0;
      const db = d * (0.5 + (aux >>> 28)) * 0.5;
      for (let l = 0; l < 4; l++, y += 8) {
        const sg = signs[(aux >>> (7 * l)) & 127];
        const g1 = 4 * src[o + 2 + 8 * s + 2 * l];
        const g2 = 4 * src[o + 3 + 8 * s + 2 * l];
        for (let j = 0; j < 4; j++) {
          out[y + j] = (sg >> j) & 1 ? -db * values[g1 + j] : db * values[g1 + j];
          out[y + 4 + j] = (sg >> (j + 4)) & 1 ? -db * values[g2 + j] : db * values[g2 + j];
        }
      }
    }
  }
  return out;
}

export function dequantizeIQ2_XXS(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ2_XXS', src, nElements, QK_K, 66);
  const out = floatOutput('IQ2_XXS', nElements, dst);
  const f16 = f16Table();
  const values = grid('iq2xxs', () => gridValues(IQ2XXS_GRID, 8, 2, IQ2_LEVELS));
  const signs = (ksignTable ??= signTable());
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 66) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let s = 0; s < 8; s++) {
      const q = o + 2 + 8 * s;
      const aux = (src[q + 4] | (src[q + 5] << 8) | (src[q + 6] << 16) | (src[q + 7] << 24)) >>> 0;
      const db = d * (0.5 + (aux >>> 28)) * 0.25;
      for (let l = 0; l < 4; l++, y += 8) put8(out, y, db, values, 8 * src[q + l], signs[(aux >>> (7 * l)) & 127]);
    }
  }
  return out;
}

export function dequantizeIQ2_XS(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ2_XS', src, nElements, QK_K, 74);
  const out = floatOutput('IQ2_XS', nElements, dst);
  const f16 = f16Table();
  const values = grid('iq2xs', () => gridValues(IQ2XS_GRID, 8, 2, IQ2_LEVELS));
  const signs = (ksignTable ??= signTable());
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 74) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let s = 0; s < 8; s++) {
      const sc = src[o + 66 + s];
      for (let l = 0; l < 4; l++, y += 8) {
        const db = d * (0.5 + (l < 2 ? sc & 15 : sc >> 4)) * 0.25;
        const q = o + 2 + 8 * s + 2 * l;
        const code = src[q] | (src[q + 1] << 8);
        put8(out, y, db, values, 8 * (code & 511), signs[code >> 9]);
      }
    }
  }
  return out;
}

export function dequantizeIQ2_S(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ2_S', src, nElements, QK_K, 82);
  const out = floatOutput('IQ2_S', nElements, dst);
  const f16 = f16Table();
  const values = grid('iq2s', () => gridValues(IQ2S_GRID, 8, 2, IQ2_LEVELS));
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 82) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let s = 0; s < 8; s++) {
      const sc = src[o + 74 + s];
      const high = src[o + 66 + s];
      for (let l = 0; l < 4; l++, y += 8) {
        const db = d * (0.5 + (l < 2 ? sc & 15 : sc >> 4)) * 0.25;
        const entry = src[o + 2 + 4 * s + l] | (((high >> (2 * l)) & 3) << 8);
        put8(out, y, db, values, 8 * entry, src[o + 34 + 4 * s + l]);
      }
    }
  }
  return out;
}

/** IQ1_S/IQ1_M: values are scale·(grid + δ), δ = ±1/8 (ggml's IQ1S_DELTA). */
const IQ1_DELTA = 0.125;

export function dequantizeIQ1_S(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ1_S', src, nElements, QK_K, 50);
  const out = floatOutput('IQ1_S', nElements, dst);
  const f16 = f16Table();
  const values = grid('iq1s', () => gridValues(IQ1S_GRID, 8, 2, IQ1_LEVELS));
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 50) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let s = 0; s < 8; s++) {
      const qh = src[o + 34 + 2 * s] | (src[o + 35 + 2 * s] << 8);
      // f16 × a 4-bit odd integer, times grid ± 1/8: exact in f32, as ggml's products are.
      const dl = d * (2 * ((qh >> 12) & 7) + 1);
      const delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
      for (let l = 0; l < 4; l++, y += 8) {
        const g = 8 * (src[o + 2 + 4 * s + l] | (((qh >> (3 * l)) & 7) << 8));
        for (let j = 0; j < 8; j++) out[y + j] = dl * (values[g + j] + delta);
      }
    }
  }
  return out;
}

export function dequantizeIQ1_M(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ1_M', src, nElements, QK_K, 56);
  const out = floatOutput('IQ1_M', nElements, dst);
  const f16 = f16Table();
  const values = grid('iq1s', () => gridValues(IQ1S_GRID, 8, 2, IQ1_LEVELS));
  const sc = [0, 0, 0, 0];
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 56) {
    for (let k = 0; k < 4; k++) sc[k] = src[o + 48 + 2 * k] | (src[o + 49 + 2 * k] << 8);
    const d = f16[(sc[0]! >> 12) | ((sc[1]! >> 8) & 0x00f0) | ((sc[2]! >> 4) & 0x0f00) | (sc[3]! & 0xf000)];
    for (let s = 0; s < 8; s++) {
      const w = sc[s >> 1]! >> (6 * (s & 1));
      for (let l = 0; l < 4; l++, y += 8) {
        const dl = d * (2 * ((w >> (l < 2 ? 0 : 3)) & 7) + 1);
        const h = src[o + 32 + 2 * s + (l >> 1)] >> (4 * (l & 1));
        const delta = h & 8 ? -IQ1_DELTA : IQ1_DELTA;
        const g = 8 * (src[o + 4 * s + l] | ((h & 7) << 8));
        for (let j = 0; j < 8; j++) out[y + j] = dl * (values[g + j] + delta);
      }
    }
  }
  return out;
}
