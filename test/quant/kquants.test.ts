import { describe, expect, it } from 'vitest';
import {
  dequantizeQ2_K,
  dequantizeQ3_K,
  dequantizeQ4_K,
  dequantizeQ5_K,
  dequantizeQ6_K,
  dequantizeQ8_K,
  f16ToF32,
  nearestInt,
  quantizeQ2_K,
  quantizeQ3_K,
  quantizeQ4_K,
  quantizeQ5_K,
  quantizeQ6_K,
  quantizeQ8_K,
} from '../../src/quant/index.ts';
import { rng } from './helpers.ts';

// Blocks are built here from the layout facts alone (where each value's bits live), with random
// codes and scales, and the decoders must give d·scale·q − dmin·min exactly. f16 1.0 = 0x3C00,
// 0.5 = 0x3800, 0.25 = 0x3400.
const setF16 = (b: Uint8Array, o: number, h: number) => {
  b[o] = h & 0xff;
  b[o + 1] = h >> 8;
};

/** Q4_K/Q5_K 12-byte scale field from eight 6-bit scales and eight 6-bit mins. */
function packK4(sc: number[], mn: number[]): number[] {
  const s = new Array<number>(12).fill(0);
  for (let j = 0; j < 4; j++) {
    s[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
    s[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
    s[j + 8] = (sc[j + 4] & 0x0f) | ((mn[j + 4] & 0x0f) << 4);
  }
  return s;
}

describe('K-quant block decoding (hand-built blocks)', () => {
  const r = rng(10);

  it('Q2_K: value e has 2 bits at qs[32·(e/128) + e%32] >> 2·((e%128)/32); scale nibble | min nibble per 16', () => {
    const b = new Uint8Array(84);
    const codes = Array.from({ length: 256 }, () => r.int(4));
    const scales = Array.from({ length: 16 }, () => r.int(256));
    b.set(scales, 0);
    for (let e = 0; e < 256; e++) b[16 + 32 * (e >> 7) + (e & 31)] |= codes[e] << (2 * ((e & 127) >> 5));
    setF16(b, 80, 0x3800); // d = 0.5
    setF16(b, 82, 0x3400); // dmin = 0.25
    const out = dequantizeQ2_K(b, 256);
    for (let e = 0; e < 256; e++) {
      const sc = scales[e >> 4];
      expect(out[e]).toBe(0.5 * (sc & 15) * codes[e] - 0.25 * (sc >> 4));
    }
  });

  it('Q3_K: low 2 bits like Q2_K, third bit in hmask[e%32] bit e/32 (clear means −4), 6-bit scales − 32', () => {
    const b = new Uint8Array(110);
    const codes = Array.from({ length: 256 }, () => r.int(8)); // 0..7 → value code − 4
    const sc6 = Array.from({ length: 16 }, () => r.int(64));
    for (let e = 0; e < 256; e++) {
      b[32 + 32 * (e >> 7) + (e & 31)] |= (codes[e] & 3) << (2 * ((e & 127) >> 5));
      if (codes[e] & 4) b[e & 31] |= 1 << (e >> 5);
    }
    for (let j = 0; j < 16; j++) {
      if (j < 8) b[96 + j] |= sc6[j] & 15;
      else b[96 + j - 8] |= (sc6[j] & 15) << 4;
      b[96 + 8 + (j % 4)] |= (sc6[j] >> 4) << (2 * (j >> 2));
    }
    setF16(b, 108, 0x3400);
    const out = dequantizeQ3_K(b, 256);
    for (let e = 0; e < 256; e++) expect(out[e]).toBe(0.25 * (sc6[e >> 4] - 32) * (codes[e] - 4));
  });

  it('Q4_K: sub-block 2k in the low nibbles of qs[32k..32k+31], 2k+1 in the high nibbles; 6-bit scales and mins', () => {
    const b = new Uint8Array(144);
    const sc = Array.from({ length: 8 }, () => r.int(64));
    const mn = Array.from({ length: 8 }, () => r.int(64));
    sc[5] = 63; // exercise the spare high bits
    mn[6] = 63;
    const codes = Array.from({ length: 256 }, () => r.int(16));
    setF16(b, 0, 0x3c00);
    setF16(b, 2, 0x3800);
    b.set(packK4(sc, mn), 4);
    for (let e = 0; e < 256; e++) b[16 + 32 * (e >> 6) + (e & 31)] |= codes[e] << (e & 32 ? 4 : 0);
    const out = dequantizeQ4_K(b, 256);
    for (let e = 0; e < 256; e++) expect(out[e]).toBe(sc[e >> 5] * codes[e] - 0.5 * mn[e >> 5]);
  });

  it('Q5_K: Q4_K plus a fifth bit in qh[e%32] bit e/32', () => {
    const b = new Uint8Array(176);
    const sc = Array.from({ length: 8 }, () => r.int(64));
    const mn = Array.from({ length: 8 }, () => r.int(64));
    const codes = Array.from({ length: 256 }, () => r.int(32));
    setF16(b, 0, 0x3400);
    setF16(b, 2, 0x3c00);
    b.set(packK4(sc, mn), 4);
    for (let e = 0; e < 256; e++) {
      b[48 + 32 * (e >> 6) + (e & 31)] |= (codes[e] & 15) << (e & 32 ? 4 : 0);
      if (codes[e] & 16) b[16 + (e & 31)] |= 1 << (e >> 5);
    }
    const out = dequantizeQ5_K(b, 256);
    for (let e = 0; e < 256; e++) expect(out[e]).toBe(0.25 * sc[e >> 5] * codes[e] - mn[e >> 5]);
  });

  it('Q6_K: low 4 bits in ql, top 2 in qh, signed 8-bit scale per 16 values, codes biased by 32', () => {
    const b = new Uint8Array(210);
    const codes = Array.from({ length: 256 }, () => r.int(64));
    const scales = Array.from({ length: 16 }, () => r.int(256) - 128);
    for (let e = 0; e < 256; e++) {
      const n = e >> 7;
      const i = (e & 127) >> 5; // which of the four 32-value quarters of this 128
      const l = e & 31;
      b[64 * n + l + (i & 1 ? 32 : 0)] |= (codes[e] & 15) << (i & 2 ? 4 : 0);
      b[128 + 32 * n + l] |= (codes[e] >> 4) << (2 * i);
    }
    for (let j = 0; j < 16; j++) b[192 + j] = scales[j] & 0xff;
    setF16(b, 208, 0x3800);
    const out = dequantizeQ6_K(b, 256);
    for (let e = 0; e < 256; e++) expect(out[e]).toBe(0.5 * scales[e >> 4] * (codes[e] - 32));
  });

  it('Q8_K: f32 d times signed bytes', () => {
    const b = new Uint8Array(292);
    new DataView(b.buffer).setFloat32(0, 0.125, true);
    for (let j = 0; j < 256; j++) b[4 + j] = j;
    const out = dequantizeQ8_K(b, 256);
    for (let j = 0; j < 256; j++) expect(out[j]).toBe(0.125 * ((j << 24) >> 24));
  });

  it('rejects partial super-blocks', () => {
    expect(() => dequantizeQ4_K(new Uint8Array(144), 128)).toThrow(/Q4_K: 128 elements is not a multiple of the block size 256/);
    expect(() => dequantizeQ6_K(new Uint8Array(209), 256)).toThrow(/Q6_K: 256 elements need 210 bytes, got 209/);
    expect(() => quantizeQ2_K(new Float32Array(255))).toThrow(/Q2_K/);
  });
});

describe('nearest_int', () => {
  it('rounds half to even like the 1.5·2^23 trick', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 3.7].map(nearestInt)).toEqual([0, 2, 2, 0, -2, -2, 2, 4]);
    expect(nearestInt(4194303)).toBe(4194303);
    expect(nearestInt(-4194303)).toBe(-4194303);
  });

  it('replays the bit trick outside its asserted range instead of failing', () => {
    expect(nearestInt(NaN)).toBe(0); // NaN + magic keeps only the quiet bit: 0x400000 − 0x400000
    expect(Number.isInteger(nearestInt(1e30))).toBe(true);
  });
});

describe('K-quant quantizers', () => {
  it('Q6_K writes an all-zero block for all-zero input', () => {
    const b = quantizeQ6_K(new Float32Array(512));
    expect(b.every((v) => v === 0)).toBe(true);
    expect(Array.from(dequantizeQ6_K(b, 512)).every((v) => v === 0)).toBe(true);
  });

  it('Q4_K/Q5_K reproduce values that sit exactly on one shared grid', () => {
    // Every sub-block spans the same 0..nmax codes with step 2^-4 and min −0.5: the min/max fit is
    // exact, so scale, min and codes survive quantization without error.
    for (const [nmax, quant, dequant] of [
      [15, quantizeQ4_K, dequantizeQ4_K],
      [31, quantizeQ5_K, dequantizeQ5_K],
    ] as const) {
      const x = new Float32Array(256);
      for (let e = 0; e < 256; e++) x[e] = -0.5 + ((e * 7 + (e >> 5)) % (nmax + 1)) / 16;
      for (let j = 0; j < 8; j++) {
        x[32 * j] = -0.5;
        x[32 * j + 1] = -0.5 + nmax / 16;
      }
      const back = dequant(quant(x), 256);
      for (let e = 0; e < 256; e++) expect(Math.abs(back[e] - x[e])).toBeLessThan(2e-3); // only the f16 rounding of d and dmin
    }
  });

  it('Q2_K and Q3_K store the super-block scale so the largest sub-block scale gets code 15 / ±32', () => {
    const r = rng(11);
    const x = new Float32Array(256).map(() => r.gauss());
    const q2 = quantizeQ2_K(x);
    expect(Math.max(...Array.from(q2.subarray(0, 16), (s) => s & 15))).toBe(15);
    const q3 = quantizeQ3_K(x);
    const codes: number[] = [];
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? q3[96 + j] & 15 : q3[96 + j - 8] >> 4;
      codes.push((low | (((q3[104 + (j % 4)] >> (2 * (j >> 2))) & 3) << 4)) - 32);
    }
    expect(codes.some((c) => c === -32)).toBe(true); // the largest |scale| maps to −32
    expect(f16ToF32(q3[108] | (q3[109] << 8))).not.toBe(0);
  });

  it('Q8_K: d = max/−127 (f32), codes ≤ 127, bsums are the sums of 16 codes', () => {
    const r = rng(12);
    const x = new Float32Array(512).map(() => r.gauss());
    const b = quantizeQ8_K(x);
    const view = new DataView(b.buffer);
    for (let blk = 0; blk < 2; blk++) {
      const o = blk * 292;
      for (let j = 0; j < 16; j++) {
        let sum = 0;
        for (let i = 0; i < 16; i++) sum += (b[o + 4 + 16 * j + i] << 24) >> 24;
        expect(view.getInt16(o + 260 + 2 * j, true)).toBe(sum);
      }
    }
    const back = dequantizeQ8_K(b, 512);
    let amax = 0;
    for (let i = 0; i < 256; i++) amax = Math.max(amax, Math.abs(x[i]));
    for (let i = 0; i < 256; i++) expect(Math.abs(back[i] - x[i])).toBeLessThanOrEqual((amax / 127) * 0.5001);
  });
});
