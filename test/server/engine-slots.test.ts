// The engine's slots, which lowbit serve's --parallel uses: each its own KV cache and scratch over
// one copy of the weights, all allocated at load inside the memory budget.
import { afterAll, describe, expect, test } from 'vitest';
import { loadEngine } from '../../src/engine/engine.ts';
import { estimateGpuMemory } from '../../src/engine/memory-budget.ts';
import { GpuMemoryBudgetError } from '../../src/errors.ts';
import { readGGUF } from '../../src/gguf/index.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { localModel } from '../helpers/fixtures.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { countingGpu } from '../engine/counting-gpu.ts';

afterAll(() => releaseTestGpu());

const path = localModel('stories260K-Q8_0.gguf');

async function load(gpu: GpuContext, options: { contextSize: number; slots?: number; maxGpuBytes?: number }) {
  const source = await FileByteSource.open(path);
  try {
    return await loadEngine(source, { gpu, ...options });
  } finally {
    await source.close();
  }
}

async function header() {
  const source = await FileByteSource.open(path);
  try {
    return await readGGUF(source);
  } finally {
    await source.close();
  }
}

describe('engine slots', () => {
  test('3 slots: the estimate counts 3 KV caches and scratches, the weights once, and bounds what is allocated', async () => {
    const counted = countingGpu(await testGpu());
    const engine = await load(counted.gpu, { contextSize: 64, slots: 3 });
    try {
      const one = estimateGpuMemory(await header(), { contextSize: 64, limits: counted.gpu.limits });
      const three = estimateGpuMemory(await header(), { contextSize: 64, limits: counted.gpu.limits, sequences: 3 });
      expect(three.weights).toBe(one.weights);
      expect(three.kvCache).toBe(3 * one.kvCache);
      expect(three.scratch).toBe(3 * one.scratch);
      const allocated = counted.peakBytes();
      expect(three.total).toBeGreaterThanOrEqual(allocated);
      expect(three.total - allocated).toBeLessThan(3 * 64 * 1024);
      expect(engine.slots.map((s) => s.index)).toEqual([0, 1, 2]);
      expect(engine.info.gpuBytes.kvCache).toBe(three.kvCache);
    } finally {
      await engine.dispose();
    }
  });

  test('a budget that fits one slot but not three refuses three before any buffer', async () => {
    const gpu = await testGpu();
    const one = estimateGpuMemory(await header(), { contextSize: 64, limits: gpu.limits });
    const counted = countingGpu(gpu);
    const err = await load(counted.gpu, { contextSize: 64, slots: 3, maxGpuBytes: one.total + 1 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GpuMemoryBudgetError);
    expect(counted.bytes()).toBe(0);
    await expect(load(gpu, { contextSize: 64, slots: 0 })).rejects.toThrow(RangeError);
    await expect(load(gpu, { contextSize: 64, slots: 1.5 })).rejects.toThrow(RangeError);
    const engine = await load(gpu, { contextSize: 64, slots: 1, maxGpuBytes: one.total + 1 });
    await engine.dispose();
  });

  test('slots run at once and each keeps its own conversation; reset() clears them all', async () => {
    const engine = await load(await testGpu(), { contextSize: 64, slots: 2 });
    try {
      const greedy = { maxTokens: 12, temperature: 0 };
      const a = engine.prepareGenerate('Once upon a time', greedy);
      const b = engine.prepareGenerate('The little dog', greedy);
      const text = async (stream: AsyncIterable<{ text: string }>) => {
        let out = '';
        for await (const t of stream) out += t.text;
        return out;
      };
      const aloneA = await text(engine.slots[0]!.run(a));
      const aloneB = await text(engine.slots[0]!.run(b));
      const [bothA, bothB] = await Promise.all([text(engine.slots[0]!.run(a)), text(engine.slots[1]!.run(b))]);
      expect(bothA).toBe(aloneA);
      expect(bothB).toBe(aloneB);
      expect(engine.slots[0]!.cachedTokens.slice(0, a.tokens.length)).toEqual(a.tokens);
      expect(engine.slots[1]!.cachedTokens.slice(0, b.tokens.length)).toEqual(b.tokens);
      // An aborted run on one slot leaves the other's running generation alone.
      const abort = new AbortController();
      abort.abort();
      const aborted = engine.slots[0]!.run(a, abort.signal);
      expect(await text(aborted)).toBe('');
      expect((await aborted.stats).finishReason).toBe('abort');
      await engine.reset();
      expect(engine.slots.map((s) => s.cachedTokens.length)).toEqual([0, 0]);
    } finally {
      await engine.dispose();
    }
  });
});
