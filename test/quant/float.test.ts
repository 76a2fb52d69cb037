import { describe, expect, it } from 'vitest';
import {
  bf16ToF32,
  dequantizeBF16,
  dequantizeF16,
  dequantizeF32,
  f16BitsTable,
  f16ToF32,
  f32BitsToBf16,
  f32BitsToF16,
  quantizeBF16,
  quantizeF16,
  quantizeF32,
} from '../../src/quant/index.ts';
import { f32Bits, fromBits, rng, sameBits } from './helpers.ts';

const isNaNHalf = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

/** Independent f16 value of a bit pattern, from the IEEE definition in f64. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Reference f32 → f16 by search: the nearest of all finite f16 values (in f64), ties to the even
 * pattern; 0x7C00 stands at 65536 so 65520 and beyond round to infinity like IEEE says.
 */
const positiveHalves: number[] = [];
for (let h = 0; h <= 0x7c00; h++) positiveHalves.push(h === 0x7c00 ? 65536 : halfValue(h));
function referenceF16(v: number): number {
  if (Number.isNaN(v)) throw new Error('NaN has no reference');
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65536) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7c00;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (positiveHalves[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - positiveHalves[lo];
  const dHi = positiveHalves[hi] - a;
  if (dLo < dHi) return sign | lo;
  if (dHi < dLo) return sign | hi;
  return sign | (lo % 2 === 0 ? lo : hi);
}

describe('f16 ↔ f32', () => {
  it('decodes every one of the 65536 f16 patterns exactly and re-encodes it unchanged', () => {
    const bad: string[] = [];
    let checked = 0;
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      if (isNaNHalf(h)) {
        // The bit table keeps the payload (a JS number may not); encoding any NaN gives ggml's canonical 0x7E00 with the sign.
        const payloadKept = f16BitsTable()[h] === (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0;
        if (!Number.isNaN(v) || !payloadKept || f32BitsToF16(f16BitsTable()[h]) !== ((h & 0x8000) | 0x7e00)) bad.push(`NaN ${h}`);
        continue;
      }
      if (!Object.is(v, halfValue(h)) || f32BitsToF16(f32Bits(v)) !== h) bad.push(h.toString(16));
      checked++;
    }
    expect(bad).toEqual([]);
    expect(checked).toBe(65536 - 2 * 1023);
  });

  it('knows the landmark values', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f32BitsToF16(f32Bits(65519.99))).toBe(0x7bff); // below the 65520 midpoint
    expect(f32BitsToF16(f32Bits(65520))).toBe(0x7c00); // the midpoint ties to the even pattern: infinity
    expect(f32BitsToF16(f32Bits(1e-8))).toBe(0); // under half the smallest subnormal
    expect(f32BitsToF16(f32Bits(2 ** -25))).toBe(0); // exactly half: ties to even (zero)
    expect(f32BitsToF16(f32Bits(2 ** -25 * 1.0000001))).toBe(1);
    expect(f32BitsToF16(f32Bits(1 + 2 ** -11))).toBe(0x3c00); // tie between 1 and 1+2^-10 → even
    expect(f32BitsToF16(f32Bits(1 + 3 * 2 ** -11))).toBe(0x3c02); // tie → even (up)
  });

  it('rounds to nearest-even at, just below and just above every midpoint between f16 values', () => {
    const bad: string[] = [];
    let checked = 0;
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (halfValue(h) + halfValue(h + 1)) / 2; // exact in f32 (one more bit than f16)
      const midBits = f32Bits(mid);
      if (fromBits(midBits) !== mid) bad.push(`midpoint ${h} not exact`);
      for (const bits of [midBits - 1, midBits, midBits + 1]) {
        const v = fromBits(bits);
        if (f32BitsToF16(bits) !== referenceF16(v)) bad.push(bits.toString(16));
        if (f32BitsToF16((bits | 0x80000000) >>> 0) !== referenceF16(-v)) bad.push(`-${bits.toString(16)}`);
        checked += 2;
      }
    }
    expect(bad).toEqual([]);
    expect(checked).toBe(0x7bff * 6);
  });

  it('matches the search reference on 200k random f32 patterns', () => {
    const r = rng(1);
    for (let i = 0; i < 200_000; i++) {
      const bits = Math.floor(r.next() * 2 ** 32) >>> 0;
      const v = fromBits(bits);
      if (Number.isNaN(v)) {
        expect(f32BitsToF16(bits)).toBe(((bits >>> 16) & 0x8000) | 0x7e00);
        continue;
      }
      const got = f32BitsToF16(bits);
      const want = referenceF16(v);
      if (got !== want) expect({ bits: bits.toString(16), got, want }).toBeNull();
    }
  });
});

describe('bf16 ↔ f32', () => {
  it('round-trips every non-NaN bf16 pattern and quiets NaNs like ggml', () => {
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const v = bf16ToF32(h);
      const bits = f32Bits(v);
      if ((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0) {
        if (!Number.isNaN(v) || f32BitsToBf16((h << 16) >>> 0) !== (h | 0x40)) bad.push(h);
        continue;
      }
      if (bits >>> 0 !== (h << 16) >>> 0 || f32BitsToBf16(bits) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('rounds to nearest, ties to even, against an f64 reference', () => {
    expect(f32BitsToBf16(0x3f808000)).toBe(0x3f80); // 1 + 2^-8: tie → even
    expect(f32BitsToBf16(0x3f818000)).toBe(0x3f82); // tie → even (up)
    expect(f32BitsToBf16(0x3f808001)).toBe(0x3f81);
    expect(f32BitsToBf16(0x7f7fffff)).toBe(0x7f80); // FLT_MAX rounds to infinity
    const r = rng(2);
    const bad: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const bits = Math.floor(r.next() * 2 ** 32) >>> 0;
      const v = fromBits(bits);
      if (Number.isNaN(v)) continue;
      const lo = bits >>> 16;
      const hi = lo + 1;
      const vLo = bf16ToF32(lo);
      const vHi = (hi & 0x7fff) === 0x7f80 ? Math.sign(v) * 2 ** 128 : bf16ToF32(hi & 0xffff);
      const dLo = Math.abs(v - vLo);
      const dHi = Math.abs(vHi - v);
      const want = dLo < dHi ? lo : dHi < dLo ? hi & 0xffff : lo % 2 === 0 ? lo : hi & 0xffff;
      if (f32BitsToBf16(bits) !== want) bad.push(bits.toString(16));
    }
    expect(bad).toEqual([]);
  });
});

describe('float tensor codecs', () => {
  it('F32 copies bytes (NaN payloads included) from an unaligned source', () => {
    const values = new Float32Array([1.5, -0, fromBits(0x7fa00001), 3.25e-40]);
    const bytes = quantizeF32(values);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(sameBits(dequantizeF32(shifted.subarray(1), 4), values)).toBe(true);
  });

  it('F16 and BF16 tensors decode element by element like the scalar conversions', () => {
    const r = rng(3);
    const halves = new Uint8Array(2 * 1001 + 1);
    for (let i = 0; i < halves.length; i++) halves[i] = r.int(256);
    const src = halves.subarray(1); // odd byte offset on purpose
    const f16 = dequantizeF16(src, 1001);
    const bf16 = dequantizeBF16(src, 1001);
    const bad: number[] = [];
    for (let i = 0; i < 1001; i++) {
      const h = src[2 * i] | (src[2 * i + 1] << 8);
      const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
      if (!same(f16[i], f16ToF32(h)) || !same(bf16[i], bf16ToF32(h))) bad.push(i);
    }
    expect(bad).toEqual([]);
  });

  it('F16/BF16 quantize then dequantize reproduce every representable pattern', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const bytes = new Uint8Array(all.buffer);
    const f16 = dequantizeF16(bytes, 65536);
    const back = new Uint16Array(quantizeF16(f16).buffer);
    const bf = dequantizeBF16(bytes, 65536);
    const backBf = new Uint16Array(quantizeBF16(bf).buffer);
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const bfNaN = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      if (back[h] !== (isNaNHalf(h) ? (h & 0x8000) | 0x7e00 : h) || backBf[h] !== (bfNaN ? h | 0x40 : h)) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('rejects short buffers and bad element counts with a message naming the type', () => {
    expect(() => dequantizeF16(new Uint8Array(3), 2)).toThrow(/F16: 2 elements need 4 bytes, got 3/);
    expect(() => dequantizeF32(new Uint8Array(8), -1)).toThrow(/F32: element count -1/);
    expect(() => dequantizeBF16(new Uint8Array(8), 1.5)).toThrow(/BF16/);
  });
});
