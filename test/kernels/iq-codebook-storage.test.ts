// The storage-buffer codebook variant that bench/probes/iq-codebook-storage.ts times against the
// production `const`-grid IQ mat-vec: it must compute exactly what production does, for every
// codebook type, or the probe's numbers would compare different kernels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { buildCodebookPair, CODEBOOK_TYPES, firstMismatch, storageGridWgsl } from '../../bench/probes/iq-codebook-storage-variant.ts';
import { createStorageBuffer } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import { makeWeight, randomValues } from './matmul-helpers.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testGpu();
});
afterAll(releaseTestGpu);

describe('IQ codebook in a storage buffer (probe variant)', () => {
  const rows = 40;
  const cols = 512;
  for (const [i, t] of CODEBOOK_TYPES.entries()) {
    it(`${t.name}: bit-identical to the const-grid kernel on random blocks`, async () => {
      const w = makeWeight(t.type, rows, cols, 100 + i);
      const weight = uploadWeight(ctx, t.name, t.type, rows, cols, w.bytes);
      const input = createStorageBuffer(ctx, randomValues(cols, 200 + i));
      const output = createStorageBuffer(ctx, rows * 4);
      const pair = await buildCodebookPair(ctx, t.type, { weight, input, output });
      expect(await firstMismatch(ctx, pair, output, rows)).toBe(-1);
    });
  }

  it('covers the seven codebook types', () => {
    expect(CODEBOOK_TYPES.map((t) => t.name).sort()).toEqual(['IQ1_M', 'IQ1_S', 'IQ2_S', 'IQ2_XS', 'IQ2_XXS', 'IQ3_S', 'IQ3_XXS']);
  });

  it('refuses a source without the grid declaration, or with two', () => {
    const decl = 'const G = array<u32, 2>(1u, 2u);';
    expect(storageGridWgsl(`${decl}\nfn f() {}`, 'G')).toBe('@group(0) @binding(6) var<storage, read> G: array<u32, 2>;\nfn f() {}');
    expect(() => storageGridWgsl('fn f() {}', 'G')).toThrow(/found 0/);
    expect(() => storageGridWgsl(`${decl}${decl}`, 'G')).toThrow(/found 2/);
    expect(() => storageGridWgsl(`${decl}@group(0) @binding(6) var<uniform> u: u32;`, 'G')).toThrow(/binding 6 is taken/);
  });
});
