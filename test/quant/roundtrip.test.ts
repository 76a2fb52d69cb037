import { describe, expect, it } from 'vitest';
import { allQuantTypes } from '../../src/quant/index.ts';
import { boundRatio, rng } from './helpers.ts';

// dequantize(quantize(x)) stays within each type's documented error bound on varied data, block
// by block: Gaussian, heavy-tailed, all-zero, constant, a lone spike, tiny (f16-subnormal scales),
// all-negative, large, values on a coarse grid (rounding ties) and ternary.
const KINDS = ['gauss', 'cubed', 'zeros', 'constant', 'spike', 'tiny', 'negative', 'large', 'grid', 'ternary'] as const;

function sample(kind: (typeof KINDS)[number], n: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    switch (kind) {
      case 'gauss':
        x[i] = r.gauss() * 0.02;
        break;
      case 'cubed':
        x[i] = r.gauss() ** 3;
        break;
      case 'zeros':
        x[i] = 0;
        break;
      case 'constant':
        x[i] = 0.7;
        break;
      case 'spike':
        x[i] = i % 97 === 5 ? -3 : 0;
        break;
      case 'tiny':
        x[i] = r.gauss() * 1e-6;
        break;
      case 'negative':
        x[i] = -Math.abs(r.gauss());
        break;
      case 'large':
        x[i] = r.gauss() * 1000;
        break;
      case 'grid':
        x[i] = Math.round(r.gauss() * 8) / 4;
        break;
      case 'ternary':
        x[i] = (r.int(3) - 1) * 0.125;
        break;
    }
  }
  return x;
}

const N = 2048; // 8 super-blocks, 64 small blocks, 16 I2_S blocks

describe('quantize → dequantize error bounds', () => {
  for (const type of allQuantTypes().filter((t) => t.supportedOnCpu && t.quantize)) {
    it(`${type.name}: ${type.errorBound!.why}`, () => {
      const worst: Record<string, number> = {};
      for (const [k, kind] of KINDS.entries()) {
        const x = sample(kind, N, 100 + k);
        const bytes = type.quantize!(x);
        const y = type.dequantize!(bytes, N);
        worst[kind] = boundRatio(x, y, type.errorBound!);
        // Deterministic: the same input gives the same bytes.
        expect(type.quantize!(x)).toEqual(bytes);
      }
      const over = Object.entries(worst).filter(([, v]) => !(v <= 1));
      expect(over).toEqual([]);
    });
  }

  it('ternary input with an f16 scale survives TQ1_0, TQ2_0 and I2_S exactly', () => {
    const x = sample('ternary', N, 7);
    for (const name of ['TQ1_0', 'TQ2_0', 'I2_S']) {
      const t = allQuantTypes().find((q) => q.name === name)!;
      expect(Array.from(t.dequantize!(t.quantize!(x), N)), name).toEqual(Array.from(x));
    }
  });
});
