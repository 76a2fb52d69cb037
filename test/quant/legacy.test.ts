import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.ts';
import {
  dequantizeQ4_0,
  dequantizeQ4_1,
  dequantizeQ5_0,
  dequantizeQ5_1,
  dequantizeQ8_0,
  f16ToF32,
  quantizeQ4_0,
  quantizeQ4_1,
  quantizeQ5_0,
  quantizeQ5_1,
  quantizeQ8_0,
} from '../../src/quant/index.ts';

const ONE = [0x00, 0x3c]; // f16 1.0, little-endian
const HALF = [0x00, 0x38]; // f16 0.5
const MINUS_ONE = [0x00, 0xbc];
const QUARTER = [0x00, 0x34];

describe('legacy block decoding (hand-built blocks)', () => {
  it('Q4_0: d = 1 and nibbles 0..15 decode to −8..7 (low nibbles first half, high nibbles second)', () => {
    const qs = Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4));
    const out = dequantizeQ4_0(new Uint8Array([...ONE, ...qs]), 32);
    for (let j = 0; j < 16; j++) {
      expect(out[j]).toBe(j - 8);
      expect(out[j + 16]).toBe(7 - j);
    }
  });

  it('Q4_1: x = nibble·d + m', () => {
    const qs = Array.from({ length: 16 }, (_, j) => j | (j << 4));
    const out = dequantizeQ4_1(new Uint8Array([...HALF, ...MINUS_ONE, ...qs]), 32);
    for (let j = 0; j < 16; j++) {
      expect(out[j]).toBe(j * 0.5 - 1);
      expect(out[j + 16]).toBe(j * 0.5 - 1);
    }
  });

  it('Q5_0: bit j of qh is the fifth bit of value j, bit j+16 of value j+16', () => {
    // Values q[j] = j (0..15) and q[j+16] = 16 + j: only the high half needs the fifth bit.
    const qs = Array.from({ length: 16 }, (_, j) => j | (j << 4));
    const qh = 0xffff0000;
    const block = new Uint8Array([...ONE, qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24, ...qs]);
    const out = dequantizeQ5_0(block, 32);
    for (let j = 0; j < 16; j++) {
      expect(out[j]).toBe(j - 16);
      expect(out[j + 16]).toBe(j);
    }
  });

  it('Q5_1: x = (nibble | fifth bit)·d + m', () => {
    const qs = Array.from({ length: 16 }, () => 0xff);
    const qh = 0x0000ffff; // only the first half gets the fifth bit: 31 vs 15
    const block = new Uint8Array([...QUARTER, ...ONE, qh & 0xff, (qh >>> 8) & 0xff, 0, 0, ...qs]);
    const out = dequantizeQ5_1(block, 32);
    for (let j = 0; j < 16; j++) {
      expect(out[j]).toBe(31 * 0.25 + 1);
      expect(out[j + 16]).toBe(15 * 0.25 + 1);
    }
  });

  it('Q8_0: signed bytes times d, over the whole int8 range', () => {
    const blocks = new Uint8Array(8 * 34);
    for (let b = 0; b < 8; b++) {
      blocks.set(QUARTER, b * 34);
      for (let j = 0; j < 32; j++) blocks[b * 34 + 2 + j] = (b * 32 + j) & 0xff;
    }
    const out = dequantizeQ8_0(blocks, 256);
    for (let k = 0; k < 256; k++) expect(out[k]).toBe(((k << 24) >> 24) * 0.25);
  });

  it('decodes several blocks from an unaligned view and into a caller-provided array', () => {
    const block = new Uint8Array([...ONE, ...Array.from({ length: 16 }, (_, j) => j | (j << 4))]);
    const buf = new Uint8Array(1 + 3 * 18);
    for (let b = 0; b < 3; b++) buf.set(block, 1 + b * 18);
    const dst = new Float32Array(100).fill(42);
    dequantizeQ4_0(buf.subarray(1), 96, dst);
    expect(Array.from(dst.subarray(64, 96))).toEqual(Array.from(dequantizeQ4_0(block, 32)));
    expect(dst[96]).toBe(42);
  });

  it('rejects element counts that are not whole blocks and buffers that are too short', () => {
    expect(() => dequantizeQ4_0(new Uint8Array(18), 31)).toThrow(ModelFormatError);
    expect(() => dequantizeQ4_0(new Uint8Array(18), 31)).toThrow(/Q4_0: 31 elements is not a multiple of the block size 32/);
    expect(() => dequantizeQ8_0(new Uint8Array(67), 64)).toThrow(/Q8_0: 64 elements need 68 bytes, got 67/);
    expect(() => quantizeQ5_1(new Float32Array(33))).toThrow(/Q5_1: 33 values is not a multiple of the block size 32/);
    expect(() => dequantizeQ4_0(new Uint8Array(18), 32, new Float32Array(16))).toThrow(RangeError);
  });
});

describe('legacy quantizers (ggml reference semantics)', () => {
  it('Q8_0: d = amax/127 and q = round half away from zero', () => {
    const x = new Float32Array(32);
    for (let j = 0; j < 32; j++) x[j] = j - 16;
    x[0] = -127; // amax 127 → d = 1 exactly
    x[30] = 2.5; // ties round away from zero: 3, not 2 (round-half-even would give 2)
    x[31] = -2.5;
    const b = quantizeQ8_0(x);
    expect(f16ToF32(b[0] | (b[1] << 8))).toBe(1);
    expect((b[2] << 24) >> 24).toBe(-127);
    expect((b[2 + 16] << 24) >> 24).toBe(0);
    expect((b[2 + 30] << 24) >> 24).toBe(3);
    expect((b[2 + 31] << 24) >> 24).toBe(-3);
    // A non-trivial scale: amax 16 → d = f16(16/127).
    const y = x.map((_, j) => j - 16);
    const by = quantizeQ8_0(y);
    expect(f16ToF32(by[0] | (by[1] << 8))).toBe(f16ToF32(0x3008)); // 0.12598… rounds to 0x3008 = 0.1259765625
  });

  it('Q4_0: the largest-magnitude value maps to code 0 (−8·d) and the opposite extreme clamps at 15', () => {
    const x = new Float32Array(32);
    x[3] = -4; // max magnitude, negative → d = −4/−8 = 0.5
    x[5] = 4; // +4/0.5 = +8 → code 16 → clamped to 15 (value 3.5)
    x[7] = 1.2; // 1.2/0.5 + 8.5 = 10.9 → 10 → value 1
    x[20] = -0.24; // −0.48 + 8.5 = 8.02 → 8 → value 0
    const b = quantizeQ4_0(x);
    expect(f16ToF32(b[0] | (b[1] << 8))).toBe(0.5);
    expect(b[2 + 3] & 0x0f).toBe(0);
    expect(b[2 + 5] & 0x0f).toBe(15);
    expect(b[2 + 7] & 0x0f).toBe(10);
    expect(b[2 + 4] >> 4).toBe(8); // value 20 sits in the high nibble of byte 4
    const back = dequantizeQ4_0(b, 32);
    expect([back[3], back[5], back[7], back[20]]).toEqual([-4, 3.5, 1, 0]);
  });

  it('Q4_0 with a positive extreme flips the sign of d', () => {
    const x = new Float32Array(32).fill(0);
    x[0] = 8;
    const b = quantizeQ4_0(x);
    expect(f16ToF32(b[0] | (b[1] << 8))).toBe(-1);
    expect(dequantizeQ4_0(b, 32)[0]).toBe(8);
  });

  it('Q4_1/Q5_1 store min as m and span max − min', () => {
    const x = new Float32Array(32);
    for (let j = 0; j < 32; j++) x[j] = -1 + (j % 16) * 0.25; // min −1, max 2.75
    const q41 = dequantizeQ4_1(quantizeQ4_1(x), 32);
    const q51 = dequantizeQ5_1(quantizeQ5_1(x), 32);
    for (let j = 0; j < 32; j++) {
      expect(Math.abs(q41[j] - x[j])).toBeLessThanOrEqual((3.75 / 15) * 0.51);
      expect(Math.abs(q51[j] - x[j])).toBeLessThanOrEqual((3.75 / 31) * 0.53);
    }
    expect(q41[0]).toBe(-1);
    expect(q51[0]).toBe(-1);
  });

  it('Q5_0: a zero block quantizes to d = −0 (ggml computes 0/−16) and decodes to zeros', () => {
    const b = quantizeQ5_0(new Float32Array(64));
    expect([b[0], b[1], b[22], b[23]]).toEqual([0, 0x80, 0, 0x80]);
    expect(Array.from(dequantizeQ5_0(b, 64)).every((v) => v === 0)).toBe(true);
  });
});
