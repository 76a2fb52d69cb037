import { mkdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readGGUF } from '../../src/gguf/reader.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { NodeQuantizePool } from '../../src/quant/node-quantize-pool.ts';
import { quantTypeInfo } from '../../src/quant/table.ts';
import { generateScaleModel, recipeWritePlan, scaleModelDir } from '../../scripts/scale-models/generate.ts';
import { llama3RopeFreqs, planRecipe, recipeByName, SCALE_RECIPES } from '../../scripts/scale-models/recipes.ts';
import { repoRoot } from '../helpers/fixtures.ts';
import { greedySteps, openEngine, releaseTestGpu } from '../helpers/gpu-engine.ts';

const typeName = (id: number) => quantTypeInfo(id)!.name;

/** Count of planned tensors per type name. */
function typeCounts(name: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of planRecipe(recipeByName(name)!)) counts[typeName(p.type)] = (counts[typeName(p.type)] ?? 0) + 1;
  return counts;
}

describe('scale-model recipes (plan only)', () => {
  // The published files' sizes (CATALOGUE.md) check shapes and type mixes together: the tensor
  // data must account for all of the file but its metadata (a few MB of tokenizer).
  for (const r of SCALE_RECIPES.filter((x) => x.publishedBytes)) {
    it(`${r.name}: tensor data within the published file's size, less at most 10 MB of metadata`, async () => {
      const plan = await recipeWritePlan(r, { parallelism: 1, run: () => Promise.reject(new Error('plan only')) });
      const dataBytes = plan.totalSize - plan.dataOffset;
      expect(r.publishedBytes! - dataBytes).toBeGreaterThan(0);
      expect(r.publishedBytes! - dataBytes).toBeLessThan(10e6);
    });
  }

  it('SmolLM2 Q4_K_M: 576-wide rows fall back (Q5_0, Q8_0 for more-bits attn_v and the tied embedding), ffn_down Q4_K/Q6_K', () => {
    expect(typeCounts('smollm2-135m-Q4_K_M')).toEqual({ F32: 61, Q8_0: 15, Q5_0: 166, Q4_K: 16, Q6_K: 14 });
  });

  it('Llama-3.2-1B Q4_K_M: Q6_K embedding (tied head), Q6_K in 8 of 16 attn_v and ffn_down, rope_freqs kept F32', () => {
    expect(typeCounts('llama-3.2-1b-Q4_K_M')).toEqual({ F32: 34, Q4_K: 96, Q6_K: 17 });
    const freqs = llama3RopeFreqs(recipeByName('llama-3.2-1b-Q4_K_M')!, {
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalContext: 8192,
    });
    expect(freqs.length).toBe(32);
    expect(freqs[0]).toBe(1);
    expect(freqs[31]).toBe(32);
  });

  it('BitNet 2B4T: 210 I2_S, 121 F32 norms, one F16 embedding (as published); the TQ2_0 twin has the same mix in TQ2_0', () => {
    expect(typeCounts('bitnet-2b4t-I2_S')).toEqual({ I2_S: 210, F32: 121, F16: 1 });
    expect(typeCounts('bitnet-2b4t-TQ2_0')).toEqual({ TQ2_0: 210, F32: 121, F16: 1 });
  });

  it('Qwen2.5 has q/k/v biases and its own output.weight; Qwen3 has q/k norms and 128-wide heads', () => {
    const qwen2 = planRecipe(recipeByName('qwen2.5-0.5b-Q4_K_M')!);
    expect(qwen2.filter((p) => p.name.endsWith('.bias'))).toHaveLength(72);
    expect(typeName(qwen2.find((p) => p.name === 'output.weight')!.type)).toBe('Q8_0');
    const qwen3 = planRecipe(recipeByName('qwen3-0.6b-Q8_0')!);
    expect(qwen3.find((p) => p.name === 'blk.0.attn_q_norm.weight')!.dims).toEqual([128]);
    expect(qwen3.find((p) => p.name === 'blk.0.attn_q.weight')!.dims).toEqual([1024, 2048]);
  });
});

describe('the SmolLM2-135M Q4_K_M scale model', () => {
  const pool = new NodeQuantizePool();
  afterAll(async () => {
    await pool.close();
    await releaseTestGpu();
  });

  it(
    'is generated (or found current in the cache), holds the planned types, loads and decodes on the GPU',
    { timeout: 900_000 },
    async () => {
      const recipe = recipeByName('smollm2-135m-Q4_K_M')!;
      const dir = scaleModelDir(repoRoot);
      mkdirSync(dir, { recursive: true });
      const { path } = await generateScaleModel(recipe, dir, pool);

      const source = await FileByteSource.open(path);
      const file = await readGGUF(source).finally(() => source.close());
      expect(file.tensors.map((t) => `${t.name}:${t.typeName}`)).toEqual(planRecipe(recipe).map((p) => `${p.name}:${typeName(p.type)}`));

      const engine = await openEngine(path, 64);
      try {
        const steps = await greedySteps(engine, [1, 504, 2003, 7001], 4);
        expect(steps).toHaveLength(4);
        for (const s of steps) {
          expect(s.token).toBeGreaterThanOrEqual(0);
          expect(s.token).toBeLessThan(49152);
          // Peaked: the top token holds far more than a uniform share (1/49152) of the probability.
          expect(s.top[0]![1]).toBeGreaterThan(0.01);
          expect(s.top[0]![1]).toBeLessThanOrEqual(1);
        }
      } finally {
        await engine.dispose();
      }
    },
  );
});
