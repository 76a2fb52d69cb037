/** Loads a model file into a GPU engine for tests (one Dawn device per test file). */
import type { GpuContext } from '../../src/gpu/device.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { loadEngine, type Engine, type EngineLoadOptions } from '../../src/engine/engine.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';

let gpu: Promise<GpuContext> | undefined;

export function testGpu(): Promise<GpuContext> {
  gpu ??= requestNodeGpu({ warn: null });
  return gpu;
}

export async function releaseTestGpu(): Promise<void> {
  if (!gpu) return;
  const ctx = await gpu;
  await ctx.device.queue.onSubmittedWorkDone();
  ctx.device.destroy();
  gpu = undefined;
}

export type OpenEngineOptions = Pick<
  EngineLoadOptions,
  'activations' | 'evaluation' | 'maxBatch' | 'kernelVariants' | 'autotune' | 'autotuneCache' | 'autotuneBudget' | 'onAutotune'
> & { gpu?: GpuContext };

export async function openEngine(path: string, contextSize = 128, options: OpenEngineOptions = {}): Promise<Engine> {
  const source = await FileByteSource.open(path);
  try {
    return await loadEngine(source, { ...options, gpu: options.gpu ?? (await testGpu()), contextSize });
  } finally {
    await source.close();
  }
}

/** Greedy generation with top-5 probabilities per step. */
export async function greedySteps(engine: Engine, prompt: number[], n: number): Promise<{ token: number; top: [number, number][] }[]> {
  const out: { token: number; top: [number, number][] }[] = [];
  const stream = engine.generate(prompt, { maxTokens: n, temperature: 0, topLogprobs: true });
  for await (const t of stream) if (t.id >= 0 && t.top) out.push({ token: t.id, top: t.top });
  await stream.stats;
  return out;
}
