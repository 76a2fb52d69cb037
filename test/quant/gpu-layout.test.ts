// GPU row layouts (src/quant/gpu-layout.ts): TQ2_0's repack into aligned groups keeps every value
// of the GGUF blocks — read back here by a decoder written from the layout's description, not
// from the WGSL — for any row length (partial groups), odd row counts and hostile scales.
import { describe, expect, it } from 'vitest';
import { dequantizeTQ2_0 } from '../../src/quant/cpu/ternary.ts';
import { f16ToF32 } from '../../src/quant/cpu/float.ts';
import { TQ2_0_GROUPED } from '../../src/quant/gpu-layout.ts';
import { getGpuQuantType } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { rng } from '../kernels/matmul-helpers.ts';

/** Random TQ2_0 blocks: every code 0–3 (3 included, which no quantizer writes) and every kind of f16 scale. */
function randomTQ2Rows(nRows: number, cols: number, seed: number): Uint8Array {
  const r = rng(seed);
  const nb = (nRows * cols) / 256;
  const bytes = new Uint8Array(nb * 66);
  const scales = [0x3c00, 0x0001, 0x03ff, 0x8400, 0x7bff, 0x0000, 0x8000, 0x2e66];
  for (let b = 0; b < nb; b++) {
    for (let i = 0; i < 64; i++) bytes[b * 66 + i] = Math.floor(r() * 256);
    const h = b < scales.length ? scales[b]! : Math.floor(r() * 0x7c00) | (r() < 0.5 ? 0x8000 : 0);
    bytes[b * 66 + 64] = h & 0xff;
    bytes[b * 66 + 65] = h >> 8;
  }
  return bytes;
}

/**
 * The values of `nRows` GPU rows: per row ⌈nb/4⌉ groups, each the f32 scales of its n blocks in
 * one 16-byte word, then the blocks' 64 code bytes; code (qs[32c + m] >> 2l) & 3 is element
 * 128c + 32l + m of its block.
 */
function readGrouped(gpu: Uint8Array, nRows: number, cols: number): Float32Array {
  const nb = cols / 256;
  const rowBytes = TQ2_0_GROUPED.rowBytes(cols);
  const view = new DataView(gpu.buffer, gpu.byteOffset, gpu.byteLength);
  const out = new Float32Array(nRows * cols);
  for (let r = 0; r < nRows; r++) {
    for (let b = 0; b < nb; b++) {
      const group = r * rowBytes + Math.floor(b / 4) * (16 + 4 * 64);
      const j = b % 4;
      const d = view.getFloat32(group + 4 * j, true);
      const qs = group + 16 + 64 * j;
      for (let c = 0; c < 2; c++)
        for (let l = 0; l < 4; l++)
          for (let m = 0; m < 32; m++) out[r * cols + b * 256 + 128 * c + 32 * l + m] = (((gpu[qs + 32 * c + m]! >> (2 * l)) & 3) - 1) * d;
    }
  }
  return out;
}

describe('TQ2_0 grouped GPU layout', () => {
  it('rows are whole 16-byte words: 64 bytes of codes per block plus one word of scales per 4 blocks', () => {
    const entry = getGpuQuantType(GGMLType.TQ2_0);
    expect(entry.gpu.rowLayout).toBe(TQ2_0_GROUPED);
    for (const nb of [1, 2, 3, 4, 5, 8, 9, 10, 27]) {
      const bytes = entry.gpuRowBytes(256 * nb);
      expect(bytes % 16, `nb ${nb}`).toBe(0);
      expect(bytes).toBe(64 * nb + 16 * Math.ceil(nb / 4));
    }
    // The file's row size is unchanged; the row rule's errors still name the tensor.
    expect(entry.rowBytes(256 * 5)).toBe(66 * 5);
    expect(() => entry.gpuRowBytes(300, 'blk.0.ffn_up.weight')).toThrow(/"blk\.0\.ffn_up\.weight".*not a multiple of 256/);
  });

  // Odd row counts, rows of 1, 3, 4, 5 and 9 blocks (partial and whole groups).
  it.each([
    [1, 1],
    [7, 3],
    [3, 4],
    [13, 5],
    [5, 9],
  ])('%i rows of %i blocks repack to exactly the GGUF blocks’ values', (nRows, nb) => {
    const cols = 256 * nb;
    const file = randomTQ2Rows(nRows, cols, nRows * 100 + nb);
    const gpu = new Uint8Array(nRows * TQ2_0_GROUPED.rowBytes(cols)).fill(0xa5); // stale bytes must not leak through
    TQ2_0_GROUPED.repack(file, cols, nRows, gpu);
    const want = dequantizeTQ2_0(file, nRows * cols);
    expect(readGrouped(gpu, nRows, cols)).toEqual(want);
    // The scales are the f16 d widened exactly, subnormals and −0 included.
    const view = new DataView(gpu.buffer);
    expect(Object.is(view.getFloat32(0, true), f16ToF32(file[64]! | (file[65]! << 8)))).toBe(true);
    // Padding (unused scale slots of a partial group) is zero.
    const used = nb % 4 || 4;
    for (let j = used; j < 4; j++) expect(view.getUint32(Math.floor((nb - 1) / 4) * 272 + 4 * j, true)).toBe(0);
  });

  it('a row repacked in segments of whole groups equals the row repacked at once (how the loader streams)', () => {
    const nb = 11;
    const cols = 256 * nb;
    const file = randomTQ2Rows(1, cols, 5);
    const whole = new Uint8Array(TQ2_0_GROUPED.rowBytes(cols));
    TQ2_0_GROUPED.repack(file, cols, 1, whole);
    const seg = TQ2_0_GROUPED.segmentElems;
    const parts: Uint8Array[] = [];
    for (let c = 0; c < cols; c += seg) {
      const n = Math.min(seg, cols - c);
      const out = new Uint8Array(TQ2_0_GROUPED.rowBytes(n));
      TQ2_0_GROUPED.repack(file.subarray((c / 256) * 66), n, 1, out);
      parts.push(out);
    }
    expect(Buffer.concat(parts)).toEqual(Buffer.from(whole));
  });

  it('refuses short input or output with a RangeError instead of reading or writing out of bounds', () => {
    const file = randomTQ2Rows(2, 512, 1);
    const out = new Uint8Array(2 * TQ2_0_GROUPED.rowBytes(512));
    expect(() => TQ2_0_GROUPED.repack(file.subarray(0, file.length - 1), 512, 2, out)).toThrow(RangeError);
    expect(() => TQ2_0_GROUPED.repack(file, 512, 2, out.subarray(1))).toThrow(RangeError);
    expect(() => TQ2_0_GROUPED.repack(file, 300, 1, out)).toThrow(RangeError);
  });
});
