import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.ts';
import {
  dequantizeI2S,
  dequantizeI2SCodes,
  dequantizeTensor,
  dequantizeTQ1_0,
  dequantizeTQ2_0,
  GGMLType,
  i2sScale,
  quantizeI2S,
  quantizeTQ1_0,
  quantizeTQ2_0,
} from '../../src/quant/index.ts';
import { rng } from './helpers.ts';

/** n ternary values (−1, 0, +1) times s, deterministic. */
function ternary(n: number, s: number, seed: number): Float32Array {
  const r = rng(seed);
  return new Float32Array(n).map(() => (r.int(3) - 1) * s);
}

describe('TQ2_0', () => {
  it('decodes 2-bit codes least-significant pair first: byte m of a 32-byte half holds m, m+32, m+64, m+96', () => {
    const b = new Uint8Array(66);
    const codes = Array.from({ length: 256 }, (_, e) => (e * 5 + (e >> 3)) % 3);
    for (let e = 0; e < 256; e++) b[32 * (e >> 7) + (e & 31)] |= codes[e] << (2 * ((e & 127) >> 5));
    b[64] = 0x00;
    b[65] = 0x38; // d = 0.5
    const out = dequantizeTQ2_0(b, 256);
    for (let e = 0; e < 256; e++) expect(out[e]).toBe((codes[e] - 1) * 0.5);
  });

  it('quantizes ternary values with an f16-exact scale losslessly, scale = block absmax', () => {
    const x = ternary(1024, 0.0625, 1);
    const b = quantizeTQ2_0(x);
    expect(Array.from(dequantizeTQ2_0(b, 1024))).toEqual(Array.from(x));
    expect([b[64], b[65]]).toEqual([0x00, 0x2c]); // f16 0.0625
  });
});

describe('TQ1_0', () => {
  it('decodes base-3 bytes: trit k of byte q is ((q·3^k mod 256)·3) >> 8', () => {
    // Trits (2, 1, 0, 2, 1) most significant first = 2·81 + 27 + 0 + 6 + 1 = 196 → stored ceil(196·256/243) = 207.
    const b = new Uint8Array(54);
    b[0] = 207;
    b[52] = 0x00;
    b[53] = 0x3c; // d = 1
    const out = dequantizeTQ1_0(b, 256);
    // qs[0] holds values 0, 32, 64, 96, 128; every other byte is 0 → trits 0 → value −1.
    expect([out[0], out[32], out[64], out[96], out[128]]).toEqual([1, 0, -1, 1, 0]);
    expect(out[1]).toBe(-1);
  });

  it('places values as qs[0..31] (m + 32n), qs[32..47] (160 + m + 16n), qh[0..3] (240 + j + 4n)', () => {
    // One +1 at a time: exactly one byte may change relative to the all-(−1)… encoding of zero-ish input.
    const base = quantizeTQ1_0(new Float32Array(256).fill(-1));
    const where = (e: number) => {
      const x = new Float32Array(256).fill(-1);
      x[e] = 1;
      const b = quantizeTQ1_0(x);
      const changed: number[] = [];
      for (let i = 0; i < 52; i++) if (b[i] !== base[i]) changed.push(i);
      return changed;
    };
    expect(where(0)).toEqual([0]);
    expect(where(32 * 4 + 31)).toEqual([31]);
    expect(where(160)).toEqual([32]);
    expect(where(160 + 16 * 4 + 15)).toEqual([47]);
    expect(where(240)).toEqual([48]);
    expect(where(255)).toEqual([51]);
  });

  it('quantizes ternary values losslessly and agrees with TQ2_0 on them', () => {
    const x = ternary(2048, 0.041015625, 2); // an f16-representable scale
    const tq1 = dequantizeTQ1_0(quantizeTQ1_0(x), 2048);
    const tq2 = dequantizeTQ2_0(quantizeTQ2_0(x), 2048);
    expect(Array.from(tq1)).toEqual(Array.from(x));
    expect(Array.from(tq2)).toEqual(Array.from(x));
  });

  it('snaps non-ternary values to the nearest of {−d, 0, d}, ties away from zero', () => {
    const x = new Float32Array(256);
    x[0] = 1; // d = 1
    x[1] = 0.5; // lroundf(0.5) = 1
    x[2] = -0.49;
    x[3] = -0.5;
    const out = dequantizeTQ1_0(quantizeTQ1_0(x), 256);
    expect([out[0], out[1], out[2], out[3]]).toEqual([1, 1, 0, -1]);
  });
});

describe('I2_S', () => {
  it('reads value k from byte (k/128)·32 + k%32, bits 7:6 for the first 32 of a block down to 1:0', () => {
    const n = 256;
    const bytes = new Uint8Array(n / 4 + 32);
    const codes = Array.from({ length: n }, (_, k) => (k * 7 + (k >> 4)) % 3);
    for (let k = 0; k < n; k++) bytes[(k >> 7) * 32 + (k % 32)] |= codes[k] << (6 - 2 * ((k % 128) >> 5));
    new DataView(bytes.buffer).setFloat32(n / 4, 0.75, true);
    const out = dequantizeI2S(bytes, n);
    for (let k = 0; k < n; k++) expect(out[k]).toBe((codes[k] - 1) * 0.75);
    expect(i2sScale(bytes, n)).toBe(0.75);
    expect(Array.from(dequantizeTensor(GGMLType.I2_S, bytes, n))).toEqual(Array.from(out));
  });

  it('decodes the unused code 3 as +2·scale (what BitNet’s dot product computes)', () => {
    const bytes = new Uint8Array(32).fill(0xff);
    expect(dequantizeI2SCodes(bytes, 128, 0.5)[77]).toBe(1);
  });

  it('quantizes per tensor: scale = max|x|, |x| < 1e-6 → 0, trailer = scale then 28 zero bytes', () => {
    const x = ternary(384, 0.03125, 3);
    x[5] = 1e-7; // below the converter's zero threshold
    const b = quantizeI2S(x);
    expect(b.length).toBe(384 / 4 + 32);
    expect(i2sScale(b, 384)).toBe(0.03125);
    expect(Array.from(b.subarray(96 + 4)).every((v) => v === 0)).toBe(true);
    const back = dequantizeI2S(b, 384);
    x[5] = 0;
    expect(Array.from(back)).toEqual(Array.from(x));
  });

  it('streams: decoding code chunks at 128-value boundaries equals decoding the whole tensor', () => {
    const x = ternary(1024, 0.5, 4);
    const b = quantizeI2S(x);
    const whole = dequantizeI2S(b, 1024);
    const scale = i2sScale(b, 1024);
    const parts = [dequantizeI2SCodes(b.subarray(0, 96), 384, scale), dequantizeI2SCodes(b.subarray(96, 256), 640, scale)];
    expect([...parts[0], ...parts[1]]).toEqual(Array.from(whole));
  });

  it('rejects element counts off the 128-value packing block and missing trailers', () => {
    expect(() => dequantizeI2S(new Uint8Array(64), 64)).toThrow(ModelFormatError);
    expect(() => dequantizeI2S(new Uint8Array(64), 64)).toThrow(/I2_S: 64 elements is not a multiple of 128/);
    expect(() => dequantizeI2S(new Uint8Array(32 + 31), 128)).toThrow(/I2_S: 128 elements need 64 bytes, got 63/);
    expect(() => quantizeI2S(new Float32Array(100))).toThrow(/I2_S/);
  });
});
