// Batched decode over an engine's slots (issue 13 item 2): one submission advances every decoding
// slot. A batched step must give each slot what it gets decoding alone on a one-slot engine (same
// greedy tokens, close probabilities), whoever else decodes next to it, whenever it joins or
// leaves, and whatever happens to the others (abort, stop).
import { afterAll, describe, expect, test } from 'vitest';
import { instrument } from '../../bench/lib/e2e-measure.ts';
import { type Engine, type EngineLoadOptions, loadEngine } from '../../src/engine/engine.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import type { TokenStream } from '../../src/engine/types.ts';
import { estimateGpuMemory } from '../../src/engine/memory-budget.ts';
import { readGGUF } from '../../src/gguf/index.ts';
import { countingGpu } from '../engine/counting-gpu.ts';
import { openEngine, releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { localModel } from '../helpers/fixtures.ts';
import { makeSyntheticModel, removeSyntheticModels } from '../helpers/synthetic-models.ts';

afterAll(async () => {
  removeSyntheticModels();
  await releaseTestGpu();
});

const CONTEXT = 64;

async function openSlots(
  path: string,
  slots: number,
  options: Pick<EngineLoadOptions, 'activations' | 'batchDecode'> = { activations: 'f32' },
): Promise<Engine> {
  const source = await FileByteSource.open(path);
  try {
    return await loadEngine(source, { gpu: await testGpu(), contextSize: CONTEXT, slots, ...options });
  } finally {
    await source.close();
  }
}

interface Collected {
  ids: number[];
  top: [number, number][][];
  finish: string;
}

/** Every token of a stream (with its top-K report), and how it ended. */
async function collect(stream: TokenStream, onToken?: (n: number) => void): Promise<Collected> {
  const ids: number[] = [];
  const top: [number, number][][] = [];
  for await (const t of stream) {
    if (t.id < 0) continue;
    ids.push(t.id);
    if (t.top) top.push(t.top);
    onToken?.(ids.length);
  }
  return { ids, top, finish: (await stream.stats).finishReason };
}

const PROMPTS = [
  [1, 5, 9, 13],
  [1, 40, 41, 42, 43, 44, 45],
  [1, 200, 17],
];
const greedy = (maxTokens: number) => ({ maxTokens, temperature: 0, topLogprobs: true });

/** Each prompt decoded alone on a one-slot engine: the single-slot decode graph (mat-vec). */
async function alone(path: string, maxTokens: number, activations: 'f32' | 'int8' = 'f32'): Promise<Collected[]> {
  const engine = await openEngine(path, CONTEXT, { activations });
  try {
    const out: Collected[] = [];
    for (const p of PROMPTS) {
      await engine.reset();
      out.push(await collect(engine.generate(p, greedy(maxTokens))));
    }
    return out;
  } finally {
    await engine.dispose();
  }
}

function expectSameRun(batched: Collected, single: Collected): void {
  expect(batched.ids).toEqual(single.ids);
  expect(batched.top.length).toBe(single.top.length);
  batched.top.forEach((top, step) => {
    top.forEach(([id, p], k) => {
      expect(id).toBe(single.top[step]![k]![0]);
      expect(Math.abs(p - single.top[step]![k]![1])).toBeLessThan(2e-3);
    });
  });
}

const shape = { nEmbd: 128, nFF: 256, nHead: 4, nHeadKV: 2 };
const models: [string, () => Promise<string>][] = [
  ['llama (stories260K Q8_0)', async () => localModel('stories260K-Q8_0.gguf')],
  ['qwen3 (q/k norms)', () => makeSyntheticModel({ arch: 'qwen3', seed: 31, nLayer: 2, ...shape, headDim: 32 })],
  [
    'bitnet b1.58 (I2_S, sub-norms, scale tensors)',
    () => makeSyntheticModel({ arch: 'bitnet-b1.58', seed: 5, nLayer: 2, ...shape, bitnetScales: true, weightType: 'I2_S' }),
  ],
];

/** Models whose every layer linear has an int8 mat-vec: their batched step stays int8. */
const int8Models: [string, () => Promise<string>][] = [
  ['llama (the 3M fixture, Q4_K and Q6_K)', async () => localModel('tinystories-llama-3M-Q4_K_M.gguf')],
  [
    'qwen3 (q/k norms, Q8_0 and a Q8_0 head)',
    () => makeSyntheticModel({ arch: 'qwen3', seed: 31, nLayer: 2, ...shape, headDim: 32, weightType: 'Q8_0', outputType: 'Q8_0' }),
  ],
  models[2]!,
];

describe('batched decode', () => {
  for (const [name, model] of models) {
    test(`${name}: 3 slots decoding at once give each prompt its single-slot tokens and probabilities`, { timeout: 600_000 }, async () => {
      const path = await model();
      const single = await alone(path, 10);
      const engine = await openSlots(path, 3);
      try {
        const runs = await Promise.all(PROMPTS.map((p, i) => collect(engine.slots[i]!.run(engine.prepareGenerate(p, greedy(10))))));
        runs.forEach((r, i) => expectSameRun(r, single[i]!));
      } finally {
        await engine.dispose();
      }
    });
  }

  test('each slot samples with its own temperature, top-p, penalties and seed', { timeout: 600_000 }, async () => {
    const engine = await openSlots(localModel('stories260K-Q8_0.gguf'), 3);
    const options = [
      { maxTokens: 14, temperature: 0.9, seed: 7 },
      { maxTokens: 14, temperature: 1.3, topP: 0.8, seed: 1234, frequencyPenalty: 0.7 },
      { maxTokens: 14, temperature: 0, presencePenalty: 1.5, repetitionPenalty: 1.3 },
    ];
    const prepared = PROMPTS.map((p, i) => engine.prepareGenerate(p, options[i]));
    try {
      // A slot's row does not depend on the other rows: alone or together, the same tokens.
      const byItself: Collected[] = [];
      for (const [i, p] of prepared.entries()) byItself.push(await collect(engine.slots[i]!.run(p)));
      await engine.reset();
      const together = await Promise.all(prepared.map((p, i) => collect(engine.slots[i]!.run(p))));
      together.forEach((r, i) => expect(r.ids).toEqual(byItself[i]!.ids));
      // The same prompt and seed on another slot draws the same tokens (the seed is the slot's run's).
      await engine.reset();
      const swapped = await Promise.all([1, 0, 2].map((p, i) => collect(engine.slots[i]!.run(prepared[p]!))));
      expect(swapped[0]!.ids).toEqual(byItself[1]!.ids);
      expect(swapped[1]!.ids).toEqual(byItself[0]!.ids);
    } finally {
      await engine.dispose();
    }
  });

  test('slots join and leave mid-stream, one aborts: the others keep their tokens', { timeout: 600_000 }, async () => {
    const path = localModel('stories260K-Q8_0.gguf');
    const single = await alone(path, 16);
    const engine = await openSlots(path, 3);
    try {
      const [a, b, c] = PROMPTS.map((p, i) => engine.prepareGenerate(p, greedy(i === 1 ? 4 : 16)));
      // A decodes alone; B joins at A's 3rd token and leaves after 4 (its budget); C joins at A's
      // 6th token and is aborted at its own 3rd.
      const abortC = new AbortController();
      let runB: Promise<Collected> | undefined;
      let runC: Promise<Collected> | undefined;
      const runA = collect(engine.slots[0]!.run(a), (n) => {
        if (n === 3) runB = collect(engine.slots[1]!.run(b));
        if (n === 6) runC = collect(engine.slots[2]!.run(c, abortC.signal), (k) => k === 3 && abortC.abort());
      });
      const ra = await runA;
      const rb = await runB!;
      const rc = await runC!;
      expectSameRun(ra, single[0]!);
      expect(rb.ids).toEqual(single[1]!.ids.slice(0, 4));
      expect(rb.finish).toBe('length');
      expect(rc.finish).toBe('abort');
      expect(rc.ids.length).toBeGreaterThanOrEqual(3);
      expect(rc.ids).toEqual(single[2]!.ids.slice(0, rc.ids.length));
      // Each slot's KV cache holds its prompt and what it fed: a repeat of C reuses its prefix.
      expect(engine.slots[2]!.cachedTokens.slice(0, PROMPTS[2]!.length)).toEqual(PROMPTS[2]);
      const again = await collect(engine.slots[2]!.run(engine.prepareGenerate(PROMPTS[2]!, greedy(16))));
      expectSameRun(again, single[2]!);
    } finally {
      await engine.dispose();
    }
  });

  test(
    'slots at different positions, one freed mid-stream and reused, one decoding up to its context edge: each slot gets its single-slot bits',
    { timeout: 600_000 },
    async () => {
      // int8 activations on the 3M fixture: the batched step runs the single-slot kernels' arithmetic
      // per row (int8 mat-vecs in the one-token order, the slot-row RoPE and attention), so a slot's
      // probabilities are bit-equal to its run alone, not only close.
      const path = localModel('tinystories-llama-3M-Q4_K_M.gguf');
      const long = [1, ...Array.from({ length: 49 }, (_, i) => 30 + ((i * 7) % 400))];
      const runs: [number[], number][] = [
        [long, 20], // A: 50 prompt tokens, stops at the 64-position context after 14 tokens
        [PROMPTS[1]!, 30], // B: decodes through the others' comings and goings (plain greedy: the step's shared argmax)
        [PROMPTS[2]!, 16], // C: aborted at its 3rd token; its slot is then reused by D
        [[1, 300, 301, 302, 303], 10], // D (plain greedy)
      ];
      // A and C ask for their top-K report, so they take their session's own choice; B and D do not.
      const options = (i: number, n: number) => (i % 2 ? { maxTokens: n, temperature: 0 } : greedy(n));
      const single: Collected[] = [];
      const one = await openEngine(path, CONTEXT, { activations: 'int8' });
      try {
        for (const [p, n] of runs) {
          await one.reset();
          single.push(await collect(one.generate(p, options(single.length, n))));
        }
      } finally {
        await one.dispose();
      }
      expect(single[0]!.finish).toBe('length');
      expect(single[0]!.ids.length).toBe(CONTEXT - long.length);
      const engine = await openSlots(path, 3, { activations: 'int8' });
      try {
        expect(engine.batchedDecode).toBe(true);
        const [a, b, c, d] = runs.map(([p, n], i) => engine.prepareGenerate(p, options(i, n)));
        const abortC = new AbortController();
        let runD: Promise<Collected> | undefined;
        let bTokens = 0;
        let bTokensAtD = -1;
        const runA = collect(engine.slots[0]!.run(a!));
        const runB = collect(engine.slots[1]!.run(b!), (n) => {
          bTokens = n;
          if (n === 2) {
            const runC = collect(engine.slots[2]!.run(c!, abortC.signal), (k) => k === 3 && abortC.abort());
            // D takes C's slot as soon as C has given it up, while A and B still decode.
            runD = runC.then((rc) => {
              expect(rc.finish).toBe('abort');
              expect(rc.ids).toEqual(single[2]!.ids.slice(0, rc.ids.length));
              bTokensAtD = bTokens;
              return collect(engine.slots[2]!.run(d!));
            });
          }
        });
        const [ra, rb] = await Promise.all([runA, runB]);
        const rd = await runD!;
        for (const [r, want] of [
          [ra, single[0]!],
          [rb, single[1]!],
          [rd, single[3]!],
        ] as const) {
          expect(r.ids).toEqual(want.ids);
          expect(r.top).toEqual(want.top);
          expect(r.finish).toBe(want.finish);
        }
        expect(ra.finish).toBe('length');
        // D joined while B was still decoding, at a position of its own.
        expect(bTokensAtD).toBeGreaterThan(0);
        expect(bTokensAtD).toBeLessThan(rb.ids.length - 1);
      } finally {
        await engine.dispose();
      }
    },
  );

  test(
    "slots whose caches together exceed the device's binding limit keep caches of their own, and their per-row kernels",
    { timeout: 600_000 },
    async () => {
      const path = localModel('tinystories-llama-3M-Q4_K_M.gguf');
      const single = await alone(path, 8, 'int8');
      // One slot's layer cache is 128 KiB at a 256-token context: three side by side would be 384 KiB,
      // over a 192 KiB limit that every other buffer fits.
      const counted = countingGpu(await testGpu(), { maxStorageBufferBindingSize: 192 * 1024 });
      const source = await FileByteSource.open(path);
      const engine = await loadEngine(source, { gpu: counted.gpu, contextSize: 256, slots: 3, activations: 'int8' }).finally(() =>
        source.close(),
      );
      try {
        expect(engine.batchedDecode).toBe(true);
        expect(counted.buffers.filter((b) => b.label.startsWith('slotKv.'))).toEqual([]);
        expect(counted.buffers.filter((b) => b.label === 'kCache.0')).toHaveLength(4); // 3 slots and the rows pass
        const runs = await Promise.all(PROMPTS.map((p, i) => collect(engine.slots[i]!.run(engine.prepareGenerate(p, greedy(8))))));
        runs.forEach((r, i) => expectSameRun(r, single[i]!));
      } finally {
        await engine.dispose();
      }
      // Under the default limits the slots share one K and one V buffer per layer (4 layers).
      const shared = countingGpu(await testGpu());
      const src = await FileByteSource.open(path);
      await (
        await loadEngine(src, { gpu: shared.gpu, contextSize: CONTEXT, slots: 3, activations: 'int8' }).finally(() => src.close())
      ).dispose();
      expect(shared.buffers.filter((b) => b.label.startsWith('slotKv.k.'))).toHaveLength(4);
      expect(shared.buffers.filter((b) => b.label === 'kCache.0')).toHaveLength(1); // the rows pass's
    },
  );

  // int8 activations (the default where the device has int8 dot products): the batched step runs
  // the int8 mat-vec over its rows, wired as decode is, so a row decodes as it does alone.
  for (const [name, model] of int8Models) {
    test(
      `int8 activations, ${name}: 3 slots decoding at once give each prompt its single-slot int8 tokens`,
      { timeout: 600_000 },
      async () => {
        const path = await model();
        const single = await alone(path, 10, 'int8');
        const engine = await openSlots(path, 3, { activations: 'int8' });
        try {
          expect(engine.info.activations).toBe('int8');
          expect(engine.batchedDecode).toBe(true);
          const runs = await Promise.all(PROMPTS.map((p, i) => collect(engine.slots[i]!.run(engine.prepareGenerate(p, greedy(10))))));
          runs.forEach((r, i) => expectSameRun(r, single[i]!));
        } finally {
          await engine.dispose();
        }
      },
    );
  }

  test(
    'int8 activations: batched by default where the step stays int8, per-slot steps on request or otherwise',
    { timeout: 600_000 },
    async () => {
      const path = localModel('tinystories-llama-3M-Q4_K_M.gguf');
      const plain = await openSlots(path, 2, { activations: 'int8', batchDecode: false });
      expect(plain.info.activations).toBe('int8');
      expect(plain.batchedDecode).toBe(false);
      await plain.dispose();
      // stories260K's FFN width (172) is not whole 32-element blocks: its down projections are F16,
      // which have no int8 mat-vec, so a batched step would be f32 — its slots keep their own steps.
      const mixed = await openSlots(localModel('stories260K-Q8_0.gguf'), 2, { activations: 'int8' });
      expect(mixed.batchedDecode).toBe(false);
      await mixed.dispose();
      const f32 = await openSlots(localModel('stories260K-Q8_0.gguf'), 2);
      expect(f32.batchedDecode).toBe(true);
      await f32.dispose();
      const engine = await openSlots(path, 3, { activations: 'int8' });
      try {
        expect(engine.batchedDecode).toBe(true);
        const prepared = PROMPTS.map((p) => engine.prepareGenerate(p, greedy(10)));
        const byItself: Collected[] = [];
        for (const [i, p] of prepared.entries()) byItself.push(await collect(engine.slots[i]!.run(p)));
        await engine.reset();
        const together = await Promise.all(prepared.map((p, i) => collect(engine.slots[i]!.run(p))));
        together.forEach((r, i) => expectSameRun(r, byItself[i]!));
      } finally {
        await engine.dispose();
      }
    },
  );

  test.each([['f32'], ['int8']] as const)(
    'the memory estimate counts what batching 3 slots allocates (%s activations)',
    { timeout: 600_000 },
    async (activations) => {
      const path = localModel(activations === 'int8' ? 'tinystories-llama-3M-Q4_K_M.gguf' : 'stories260K-Q8_0.gguf');
      const allocated = async (batchDecode: boolean) => {
        const counted = countingGpu(await testGpu());
        const source = await FileByteSource.open(path);
        try {
          const engine = await loadEngine(source, { gpu: counted.gpu, contextSize: CONTEXT, slots: 3, activations, batchDecode });
          expect(engine.batchedDecode).toBe(batchDecode);
          await engine.dispose();
          return { bytes: counted.bytes(), limits: counted.gpu.limits, header: await readGGUF(source) };
        } finally {
          await source.close();
        }
      };
      const batched = await allocated(true);
      const perSlot = await allocated(false);
      const est = estimateGpuMemory(batched.header, { contextSize: CONTEXT, limits: batched.limits, sequences: 3 });
      const added = batched.bytes - perSlot.bytes;
      expect(added).toBeGreaterThan(0);
      expect(est.batch).toBeGreaterThanOrEqual(added);
      expect(est.batch - added).toBeLessThan(64 * 1024);
    },
  );

  test.each([['f32'], ['int8']] as const)(
    'one submission per step for all slots, one readback of 4 bytes a slot, no GPU object per step (%s activations)',
    { timeout: 600_000 },
    async (activations) => {
      const path = localModel(activations === 'int8' ? 'tinystories-llama-3M-Q4_K_M.gguf' : 'stories260K-Q8_0.gguf');
      const engine = await openSlots(path, 3, { activations });
      expect(engine.batchedDecode).toBe(true);
      const steps = 12;
      const runAll = () =>
        Promise.all(PROMPTS.map((p, i) => collect(engine.slots[i]!.run(engine.prepareGenerate(p, { maxTokens: steps, temperature: 0 })))));
      try {
        await runAll(); // warm-up: pipelines exist afterwards
        await engine.reset();
        const probe = instrument(await testGpu());
        let runs: Collected[];
        try {
          runs = await runAll();
        } finally {
          probe.restore();
        }
        const tokens = runs.reduce((s, r) => s + r.ids.length, 0);
        expect(tokens).toBe(3 * steps);
        // One prefill submission per slot (each prompt fits one), then steps - 1 batched steps: the
        // slots join at different steps, so allow a few steps that do not hold all three.
        const decodeSubmissions = probe.counters.submissions - PROMPTS.length;
        expect(decodeSubmissions).toBeGreaterThanOrEqual(steps - 1);
        expect(decodeSubmissions).toBeLessThan(3 * (steps - 1) * 0.6);
        // Token ids only: 4 bytes per slot per step (the prefill's readback too).
        expect(probe.counters.readbackBytes).toBe(4 * tokens);
        expect(probe.counters.objects).toBe(0);
      } finally {
        await engine.dispose();
      }
    },
  );
});
