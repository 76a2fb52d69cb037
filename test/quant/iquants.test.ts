// IQ4_NL, IQ4_XS, IQ3_S: the CPU dequantizers on hand-made blocks; every IQ type on all of llama-quantize's
// tensors of it (relative RMS error against the F32 originals); and on llama-quantize's IQ4_NL fixture against
// the F32 model it was made from (../shared/fixtures, when present).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.ts';
import {
  dequantizeIQ3_S,
  dequantizeIQ4_NL,
  dequantizeIQ4_XS,
  dequantizeTensor,
  GGMLType,
  IQ4_NL_VALUES,
  writeF16,
} from '../../src/quant/index.ts';
import { IQ3S_GRID } from '../../src/quant/cpu/iq-grids.ts';
import { haveShared, sharedPath } from '../helpers/fixtures.ts';
import { boundRatio, loadModel } from './helpers.ts';

describe('IQ4_NL dequantize', () => {
  it('maps low nibbles to elements 0..15 and high nibbles to 16..31 through the non-linear table', () => {
    const block = new Uint8Array(18);
    writeF16(block, 0, -0.5);
    for (let j = 0; j < 16; j++) block[2 + j] = j | ((15 - j) << 4);
    const got = dequantizeTensor(GGMLType.IQ4_NL, block, 32);
    for (let j = 0; j < 16; j++) {
      expect(got[j], `element ${j}`).toBe(-0.5 * IQ4_NL_VALUES[j]!);
      expect(got[16 + j], `element ${16 + j}`).toBe(-0.5 * IQ4_NL_VALUES[15 - j]!);
    }
    expect(IQ4_NL_VALUES).toEqual([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);
  });

  it('rejects partial blocks and short buffers', () => {
    expect(() => dequantizeIQ4_NL(new Uint8Array(18), 16)).toThrow(ModelFormatError);
    expect(() => dequantizeIQ4_NL(new Uint8Array(35), 64)).toThrow(/IQ4_NL: 64 elements need 36 bytes, got 35/);
  });

  it.skipIf(!haveShared())('decodes llama-quantize’s IQ4_NL tensors close to the F32 originals', async () => {
    const source = await loadModel(sharedPath('models', 'trained-here', 'tinystories-llama-3M-F32.gguf'));
    const quant = await loadModel(sharedPath('models', 'importance-quantized', 'tinystories-llama-3M-IQ4_NL.gguf'));
    // A value snaps to the nearest level d·T[i]; neighbouring levels are at most 24 apart and
    // d ≈ amax/127, so rounding costs ≤ 12·d ≈ 0.095·amax; the importance-weighted scale search
    // trades some of the block's extremes for the weighted error (measured worst: 0.16·amax).
    // A decode slip (swapped nibbles, a wrong level) errs by about amax.
    const bound = { group: 32, rel: 0.2, abs: 1e-6, why: 'nearest of 16 levels ≤ 24·d apart, d ≈ amax/127, importance-weighted' };
    let tensors = 0;
    let worst = 0;
    for (const t of quant.file.tensors.filter((x) => x.typeId === GGMLType.IQ4_NL)) {
      const ratio = boundRatio(source.values(source.file.tensor(t.name)!), quant.values(t), bound);
      worst = Math.max(worst, ratio);
      tensors++;
    }
    expect(tensors).toBe(29);
    expect(worst).toBeLessThanOrEqual(1);
    // The decoder is not trivially loose: the worst block uses a good part of the bound.
    expect(worst).toBeGreaterThan(0.2);
  });
});

describe('IQ4_XS dequantize', () => {
  it('gives sub-block s the 6-bit scale (nibble s & 1 of scales_l[s >> 1]) | (bits 2s.. of scales_h) << 4, minus 32', () => {
    const block = new Uint8Array(136);
    writeF16(block, 0, 0.25);
    // ls for sub-blocks 0..7: 0, 63, 32, 33, 17, 46, 5, 60 — each low and high part exercised.
    const ls = [0, 63, 32, 33, 17, 46, 5, 60];
    let high = 0;
    for (let s = 0; s < 8; s++) {
      block[4 + (s >> 1)] |= (ls[s]! & 15) << (4 * (s & 1));
      high |= (ls[s]! >> 4) << (2 * s);
    }
    block[2] = high & 255;
    block[3] = high >> 8;
    for (let j = 0; j < 128; j++) block[8 + j] = (j % 16) | ((15 - (j % 16)) << 4);
    const got = dequantizeTensor(GGMLType.IQ4_XS, block, 256);
    for (let s = 0; s < 8; s++) {
      const dl = 0.25 * (ls[s]! - 32);
      for (let j = 0; j < 16; j++) {
        expect(got[32 * s + j], `sub-block ${s} element ${j}`).toBe(Math.fround(dl * IQ4_NL_VALUES[j]!));
        expect(got[32 * s + 16 + j], `sub-block ${s} element ${16 + j}`).toBe(Math.fround(dl * IQ4_NL_VALUES[15 - j]!));
      }
    }
  });

  it('rejects partial blocks and short buffers', () => {
    expect(() => dequantizeIQ4_XS(new Uint8Array(136), 128)).toThrow(ModelFormatError);
    expect(() => dequantizeIQ4_XS(new Uint8Array(271), 512)).toThrow(/IQ4_XS: 512 elements need 272 bytes, got 271/);
  });

  it.skipIf(!haveShared())('decodes llama-quantize’s IQ4_XS tensors close to the F32 originals', async () => {
    const source = await loadModel(sharedPath('models', 'trained-here', 'tinystories-llama-3M-F32.gguf'));
    const quant = await loadModel(sharedPath('models', 'importance-quantized', 'tinystories-llama-3M-IQ4_XS.gguf'));
    // As IQ4_NL, with the sub-block scale itself quantized to 6 bits relative to the block's d.
    const bound = { group: 32, rel: 0.25, abs: 1e-6, why: 'nearest of 16 levels, 6-bit sub-block scales, importance-weighted' };
    let tensors = 0;
    let worst = 0;
    for (const t of quant.file.tensors.filter((x) => x.typeId === GGMLType.IQ4_XS)) {
      worst = Math.max(worst, boundRatio(source.values(source.file.tensor(t.name)!), quant.values(t), bound));
      tensors++;
    }
    expect(tensors).toBe(29);
    expect(worst).toBeLessThanOrEqual(1);
    expect(worst).toBeGreaterThan(0.2);
  });
});

/** How closely llama-quantize's tensors of `type` in `file` decode to the F32 model they came from. */
async function worstAgainstF32(
  file: string,
  type: GGMLType,
  bound: { group: number; rel: number; abs: number; why: string },
): Promise<{ tensors: number; worst: number }> {
  const source = await loadModel(sharedPath('models', 'trained-here', 'tinystories-llama-3M-F32.gguf'));
  const quant = await loadModel(sharedPath('models', 'importance-quantized', file));
  let tensors = 0;
  let worst = 0;
  for (const t of quant.file.tensors.filter((x) => x.typeId === type)) {
    worst = Math.max(worst, boundRatio(source.values(source.file.tensor(t.name)!), quant.values(t), bound));
    tensors++;
  }
  return { tensors, worst };
}

describe('IQ3_S dequantize', () => {
  it('reads grid entry qs | qh bit << 8, the sign bits in value order and the odd sub-block scales', () => {
    const block = new Uint8Array(110);
    writeF16(block, 0, 0.5);
    const entries: number[] = [];
    for (let g = 0; g < 64; g++) {
      const entry = (g * 37 + 5) % 512; // both halves of the grid
      entries.push(entry);
      block[2 + g] = entry & 255;
      block[66 + (g >> 3)] |= (entry >> 8) << (g & 7);
    }
    for (let i = 0; i < 32; i++) block[74 + i] = (i * 53) & 255;
    for (let i = 0; i < 4; i++) block[106 + i] = (0x1f * (i + 1)) & 255;
    const got = dequantizeTensor(GGMLType.IQ3_S, block, 256);
    for (let n = 0; n < 256; n++) {
      const s = n >> 5;
      const db = 0.5 * (1 + 2 * ((block[106 + (s >> 1)]! >> (4 * (s & 1))) & 15));
      const level = 1 + 2 * ((IQ3S_GRID[entries[n >> 2]!]! >> (3 * (n & 3))) & 7);
      const sign = (block[74 + (n >> 3)]! >> (n & 7)) & 1 ? -1 : 1;
      expect(got[n], `value ${n}`).toBe(sign * db * level);
    }
  });

  it('rejects short buffers', () => {
    expect(() => dequantizeIQ3_S(new Uint8Array(219), 512)).toThrow(/IQ3_S: 512 elements need 220 bytes, got 219/);
  });

  it.skipIf(!haveShared())('decodes llama-quantize’s IQ3_S tensors close to the F32 originals', async () => {
    // Groups of 4 snap to one of 512 grid points (levels 2 apart in units of the sub-block scale),
    // with 4-bit sub-block scales: a wrong grid entry or sign errs by about amax.
    const bound = { group: 32, rel: 0.5, abs: 1e-6, why: 'grid of 4-value points, 4-bit scales, importance-weighted' };
    const { tensors, worst } = await worstAgainstF32('tinystories-llama-3M-IQ3_S.gguf', GGMLType.IQ3_S, bound);
    expect(tensors).toBe(29);
    expect(worst).toBeLessThanOrEqual(1);
    expect(worst).toBeGreaterThan(0.2);
  });
});

describe.skipIf(!haveShared())('every IQ type decodes llama-quantize’s tensors to about its bit width’s error', () => {
  // Relative RMS error ‖x − x̂‖ / ‖x‖ per tensor. The bounds sit about 1.3× above the worst tensor
  // measured (in brackets): fewer bits, larger error. A decoder slip — a wrong grid entry order,
  // sign or scale — makes x̂ unrelated to x, ‖x − x̂‖ ≈ ‖x‖ or more (ratio ≥ 1). The exact check is
  // the ggml differential test (oracle.test.ts); this one needs no C compiler.
  const bounds: Array<[string, number, number]> = [
    ['IQ4_NL', 0.1, 29], // [0.077]
    ['IQ4_XS', 0.1, 29], // [0.078]
    ['IQ3_S', 0.21, 43], // [0.166]
    ['IQ3_XXS', 0.25, 16], // [0.193]
    ['IQ2_S', 0.33, 8], // [0.251]
    ['IQ2_XS', 0.41, 44], // [0.313]
    ['IQ2_XXS', 0.46, 32], // [0.356]
    ['IQ1_M', 0.62, 20], // [0.481]
    ['IQ1_S', 0.66, 20], // [0.512]
  ];
  const dir = sharedPath('models', 'importance-quantized');
  it.each(bounds)('%s: relative RMS error ≤ %s on each of its %i tensors', async (name, bound, count) => {
    const source = await loadModel(sharedPath('models', 'trained-here', 'tinystories-llama-3M-F32.gguf'));
    const id = GGMLType[name as keyof typeof GGMLType];
    let tensors = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.gguf'))) {
      const quant = await loadModel(join(dir, file));
      for (const t of quant.file.tensors.filter((x) => x.typeId === id)) {
        const x = source.values(source.file.tensor(t.name)!);
        const y = quant.values(t);
        let err = 0;
        let norm = 0;
        for (let i = 0; i < x.length; i++) {
          err += (x[i]! - y[i]!) ** 2;
          norm += x[i]! ** 2;
        }
        expect(Math.sqrt(err / norm), `${file} ${t.name}`).toBeLessThanOrEqual(bound);
        tensors++;
      }
    }
    expect(tensors).toBe(count);
  });
});
