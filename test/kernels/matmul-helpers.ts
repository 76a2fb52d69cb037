// Shared by the mat-vec/mat-mul tests and the kernel benchmark: seeded data, CPU references and
// the tolerance each type is held to.
import { dequantizeTensor, getQuantType, quantizeTensor } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { rng } from '../helpers/random.ts';
export { rng };

/** Roughly normal values (sum of uniforms), scaled. */
export function randomValues(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() + r() + r() - 1.5) * 2 * scale;
  return out;
}

/** Ternary weights {−s, 0, +s} per row-major tensor (what BitNet models hold). */
export function randomTernary(n: number, seed: number, s = 0.05): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (Math.floor(r() * 3) - 1) * s;
  return out;
}

export interface QuantizedWeight {
  bytes: Uint8Array;
  /** The weights as the CPU reference dequantizes them. */
  values: Float32Array;
}

export const TERNARY = new Set([GGMLType.TQ1_0, GGMLType.TQ2_0, GGMLType.I2_S]);

/**
 * Random weights quantized with the CPU codec of `type` and dequantized back (the reference). A
 * type lowbit only reads (no quantizer) gets random blocks instead: random bytes, each block
 * redrawn until it decodes to finite values of moderate size (random f16 scales may be inf/NaN).
 */
export function makeWeight(type: GGMLType, rows: number, cols: number, seed: number): QuantizedWeight {
  const n = rows * cols;
  if (!getQuantType(type).quantize) return randomBlocks(type, n, seed);
  const src = TERNARY.has(type) ? randomTernary(n, seed) : randomValues(n, seed, 0.1);
  const bytes = quantizeTensor(type, src);
  const values = dequantizeTensor(type, bytes, n);
  return { bytes, values };
}

function randomBlocks(type: GGMLType, n: number, seed: number): QuantizedWeight {
  const entry = getQuantType(type);
  const { blockSize, blockBytes } = entry.layout;
  if (entry.trailerBytes > 0) throw new Error(`${entry.name}: random blocks cannot make a per-tensor trailer`);
  const r = rng(seed);
  const bytes = new Uint8Array((n / blockSize) * blockBytes);
  for (let o = 0; o < bytes.length; o += blockBytes) {
    const block = bytes.subarray(o, o + blockBytes);
    for (let tries = 0; ; tries++) {
      if (tries > 1000) throw new Error(`${entry.name}: no usable random block`);
      for (let i = 0; i < blockBytes; i++) block[i] = Math.floor(r() * 256);
      const v = entry.dequantize!(block, blockSize);
      if (v.every((x) => Number.isFinite(x) && Math.abs(x) < 100)) break;
    }
  }
  return { bytes, values: dequantizeTensor(type, bytes, n) };
}

/** y[t][r] = Σ W[r][c]·x[t][c] in f64, plus Σ|W·x| per output for the tolerance. */
export function referenceMatmul(
  w: Float32Array,
  rows: number,
  cols: number,
  x: Float32Array,
  tokens: number,
): { y: Float64Array; mag: Float64Array } {
  const y = new Float64Array(tokens * rows);
  const mag = new Float64Array(tokens * rows);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      let m = 0;
      const wo = r * cols;
      const xo = t * cols;
      for (let c = 0; c < cols; c++) {
        const p = w[wo + c]! * x[xo + c]!;
        s += p;
        m += Math.abs(p);
      }
      y[t * rows + r] = s;
      mag[t * rows + r] = m;
    }
  }
  return { y, mag };
}

/** Types whose GPU sum is a·Σq·x + m·Σx (a block min or zero point folded out of the loop). */
const MIN_TYPES = new Set([GGMLType.Q4_1, GGMLType.Q5_1, GGMLType.Q2_K, GGMLType.Q4_K, GGMLType.Q5_K]);

/**
 * Allowed |y_gpu − y_ref| relative to Σ|w·x| for one output.
 *
 * f32 summation of n terms in any order errs by at most (n−1)·u·Σ|terms| (u = 2^-24); each term
 * also carries a few roundings (f16→f32 exact, scale products d·sc, the per-chunk scale multiply:
 * ≤ 4u). So for a row of `cols` terms: (cols + 8)·u. Types with a block min compute
 * a·Σq·x − m·Σx, whose two sums are each up to ~2–3·Σ|w·x| for zero-centred data and cancel:
 * 4× the bound. The bound is worst-case (errors rarely all align), yet a decode slip (one wrong
 * code, a swapped nibble, a wrong scale) moves the sum by ~|w·x| of one element ≈ Σ|w·x|/cols,
 * orders of magnitude above it for the shapes tested.
 */
export function tolerance(type: GGMLType, cols: number): number {
  const base = (cols + 8) * 2 ** -24;
  return MIN_TYPES.has(type) ? 4 * base : base;
}
