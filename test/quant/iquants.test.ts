// IQ4_NL: the CPU dequantizer on a hand-made block, and on llama-quantize's IQ4_NL fixture against
// the F32 model it was made from (../shared/fixtures, when present).
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.ts';
import { dequantizeIQ4_NL, dequantizeTensor, GGMLType, IQ4_NL_VALUES, writeF16 } from '../../src/quant/index.ts';
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
