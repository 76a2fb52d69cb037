// Parity with llama.cpp on the 3M fixtures under every kernel variant autotune can pick
// (kernels/autotune.ts): each load forces the i-th mat-vec candidate and the i-th GEMM tile for
// every weight type, with f32 and with int8 activations, so that every candidate runs the whole
// model at least once (the defaults, i = 0, run in test/parity/oracle-parity.test.ts). And the
// engine's autotune: a second load on the same device reads the store's record and times nothing.
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

describe.each(FIXTURES)('%s under every variant autotune can pick', (file) => {
  const oracle = () => localOracle('trained-here', file);
  const activations: ActivationPrecision[] = ['f32', 'int8'];
  // Up to 5 sets each (6 candidates per family, the default run elsewhere).
  test.each(activations.flatMap((a) => [0, 1, 2, 3, 4].map((i) => [a, i] as const)))('%s activations, set %i', async (act, i) => {
    if (act === 'int8' && !gpu.hasPackedInt8Dot) return;
    const sets = variantSets(await shapesOf(file), act);
    const set = sets[i];
    if (!set) return; // this device offers fewer candidates
    await checkParity(localModel(file), oracle(), { activations: act, kernelVariants: set, maxBatch: 32 });
  });
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
  });

  test('an unknown autotune option is refused before anything is timed', async () => {
    await expect(openEngine(localModel('tinystories-llama-3M-Q4_K_M.gguf'), 128, { autotune: 'fast' as never })).rejects.toThrow(
      /unknown autotune 'fast'/,
    );
  });
});
