// Every kernel variant autotune can pick (kernels/autotune.ts), checked three ways:
//  - each mat-vec candidate of this device against the CPU reference, for every weight type of the
//    3M fixtures, on a shape that is no multiple of any workgroup's rows (the GEMM tiles have the
//    same check in matmul-tiled.test.ts);
//  - parity with llama.cpp on the 3M fixtures with the candidates forced: `npm test` runs one decode
//    set per fixture and activations, each fixture a different candidate; `npm run test:variants`
//    (LOWBIT_TEST_VARIANTS=1) runs them all, the GEMM tiles in prefill included — about 15 minutes
//    per fixture on a software adapter, most of it compiling pipelines;
//  - the engine's autotune: a second load on the same device reads the store's record and times
//    nothing, and generates the same tokens.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readGGUF } from '../../src/gguf/index.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { gemmCandidates, type KernelVariants, type LinearShape, linearShapes, matvecCandidates } from '../../src/kernels/autotune.ts';
import type { ActivationPrecision } from '../../src/kernels/matvec-q8.ts';
import { resolveTensorNames } from '../../src/model/tensors.ts';
import { modelConfigFromMetadata } from '../../src/model/config.ts';
import { linearWeights } from '../../src/engine/kernel-choice.ts';
import { planWeights } from '../../src/runtime/loader.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import type { TuneResult } from '../../src/kernels/autotune.ts';
import { localModel } from '../helpers/fixtures.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { variantLabel } from '../../src/kernels/autotune.ts';
import { blockOf, runMatmul } from './matmul-gpu.ts';
import { tolerance } from './matmul-helpers.ts';
import { greedySteps, openEngine, releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { localOracle } from '../helpers/oracle.ts';
import { checkParity } from '../helpers/parity.ts';

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(releaseTestGpu);

const FIXTURES = [
  'tinystories-llama-3M-Q4_K_M.gguf',
  'tinystories-bitnet-3M-TQ2_0.gguf',
  'tinystories-bitnet-3M-TQ1_0.gguf',
  'tinystories-bitnet-3M-I2_S.gguf',
] as const;

async function shapesOf(file: string): Promise<LinearShape[]> {
  const source = await FileByteSource.open(localModel(file));
  try {
    const gguf = await readGGUF(source);
    const cfg = modelConfigFromMetadata(gguf, gguf.tensor('token_embd.weight')?.dims[1]);
    const names = resolveTensorNames(cfg, gguf.tensors);
    return linearShapes(linearWeights(planWeights(gguf.tensors, file, Number.MAX_SAFE_INTEGER), names));
  } finally {
    await source.close();
  }
}

/** The i-th candidate of every family for every type (clamped to each list), and how many sets cover all. */
function variantSets(shapes: readonly LinearShape[], activations: ActivationPrecision): KernelVariants[] {
  const types = [...new Set(shapes.map((s) => s.type))];
  const mv = matvecCandidates(gpu, activations);
  const tiles = new Map(
    types.map((t) => [
      t,
      gemmCandidates(
        gpu,
        shapes.filter((s) => s.type === t),
      ),
    ]),
  );
  // int8 activations change only decode: the GEMM tiles are covered by the f32 sets.
  const n = Math.max(mv.length, ...(activations === 'f32' ? [...tiles.values()].map((l) => l.length) : []));
  const sets: KernelVariants[] = [];
  for (let i = 1; i < n; i++) {
    const set: KernelVariants = { matvec: {}, gemm: {} };
    for (const t of types) {
      set.matvec![t] = mv[Math.min(i, mv.length - 1)]!;
      const l = tiles.get(t)!;
      if (activations === 'f32') set.gemm![t] = l[Math.min(i, l.length - 1)]!;
    }
    sets.push(set);
  }
  return sets;
}

const FULL = process.env.LOWBIT_TEST_VARIANTS === '1';

describe('every mat-vec candidate against the CPU reference', () => {
  const types = [GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.TQ2_0, GGMLType.TQ1_0, GGMLType.I2_S, GGMLType.Q8_0, GGMLType.Q4_0];
  // One test per candidate (6 at most): each compiles one pipeline per type.
  const cases = types.flatMap((t) => [0, 1, 2, 3, 4, 5].map((i) => [GGMLType[t], t, i] as const));
  test.each(cases)('%s (type %i), candidate %i', async (_name, type, i) => {
    const variant = matvecCandidates(gpu, 'f32')[i];
    if (!variant) return; // this device offers fewer candidates
    const cols = 3 * blockOf(type);
    const err = await runMatmul(gpu, { type, rows: 70, cols, tokens: [1], variant });
    expect(err, variantLabel(variant)).toBeLessThanOrEqual(tolerance(type, cols));
  });
});

describe.each(FIXTURES.map((f, k) => [f, k] as const))('%s under the variants autotune can pick', (file, k) => {
  const oracle = () => localOracle('trained-here', file);
  const runs = (['f32', 'int8'] as const).flatMap((a) => [0, 1, 2, 3, 4].map((i) => [a, i] as const));
  // The default suite: one decode-only set per activations, a different one for each fixture.
  const chosen = FULL ? runs : runs.filter(([, i]) => i === k % 3);
  test.each(chosen)(
    '%s activations, set %i',
    async (act, i) => {
      if (act === 'int8' && !gpu.hasPackedInt8Dot) return;
      const sets = variantSets(await shapesOf(file), act);
      const set = sets[i];
      if (!set) return; // this device offers fewer candidates
      // maxBatch 1 makes prefill the decode graph: only the full run compiles the GEMM tiles.
      await checkParity(localModel(file), oracle(), { activations: act, kernelVariants: set, maxBatch: FULL ? 32 : 1 });
    },
    600_000,
  );
});

describe('engine autotune', () => {
  test('the first load times and stores the choice; the second reads it and times nothing; the model runs with it', async () => {
    const file = localModel('tinystories-llama-3M-Q4_K_M.gguf');
    const store = new MemoryModelStore();
    const results: TuneResult[] = [];
    const options = {
      autotune: 'on' as const,
      autotuneCache: store,
      autotuneBudget: { tokens: 200 },
      onAutotune: (r: TuneResult) => results.push(r),
      maxBatch: 16,
    };
    const first = await openEngine(file, 128, options);
    let firstTokens: number[];
    try {
      expect(results.at(-1)!.source).toBe('measured');
      expect(results.at(-1)!.families.length).toBeGreaterThan(0);
      expect(first.info.kernels!.source).toBe('measured');
      expect(first.info.activations).toBe(results.at(-1)!.activations);
      firstTokens = (await greedySteps(first, first.encodePrompt('Once upon a time'), 8)).map((s) => s.token);
    } finally {
      await first.dispose();
    }
    const second = await openEngine(file, 128, options);
    try {
      expect(results).toHaveLength(2);
      expect(results[1]!.source).toBe('cache');
      expect(results[1]!.families).toEqual([]);
      expect(second.info.kernels).toEqual({ source: 'cache', variants: results[0]!.variants });
      const tokens = (await greedySteps(second, second.encodePrompt('Once upon a time'), 8)).map((s) => s.token);
      expect(tokens).toEqual(firstTokens);
    } finally {
      await second.dispose();
    }
    // 'off' and the software default ('auto' here) time nothing.
    const off = await openEngine(file, 128, { ...options, autotune: gpu.isSoftware ? 'auto' : 'off' });
    try {
      expect(results).toHaveLength(2);
      expect(off.info.kernels!.source).toBe('default');
    } finally {
      await off.dispose();
    }
    // Three loads of the model, the first timing its candidates: minutes on a loaded software adapter.
  }, 600_000);

  test('an unknown autotune option is refused before anything is timed', async () => {
    await expect(openEngine(localModel('tinystories-llama-3M-Q4_K_M.gguf'), 128, { autotune: 'fast' as never })).rejects.toThrow(
      /unknown autotune 'fast'/,
    );
  });
});
