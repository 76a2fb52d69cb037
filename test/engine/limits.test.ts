// Limits tiers (issue 10 item 4): a device created with WebGPU's default limits ('default',
// 'mobile') runs a model with the same tokens and probabilities as one with all the adapter
// offers, and every size decision reads the one GpuContext's limits: a context whose binding
// limit is forced below a tensor's size splits that tensor (the embedding included) and still
// gives the same results.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadEngine, type Engine } from '../../src/engine/engine.ts';
import type { GpuContext, LimitsTier } from '../../src/gpu/device.ts';
import { WEBGPU_DEFAULT_LIMITS } from '../../src/gpu/device.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { localModel } from '../helpers/fixtures.ts';
import { greedySteps } from '../helpers/gpu-engine.ts';
import { makeSyntheticModel, removeSyntheticModels, type SyntheticModelSpec } from '../helpers/synthetic-models.ts';
import { countingGpu } from './counting-gpu.ts';

const SYNTHETIC: SyntheticModelSpec = {
  arch: 'qwen3',
  seed: 11,
  nLayer: 2,
  nEmbd: 64,
  nFF: 128,
  nHead: 4,
  nHeadKV: 2,
  headDim: 16,
  weightType: 'Q8_0',
  embdType: 'Q8_0',
};
const CONTEXT = 64;
const MAX_BATCH = 8;
const STEPS = 8;

const gpus = new Map<LimitsTier, GpuContext>();

beforeAll(async () => {
  for (const limits of ['adapter', 'default', 'mobile'] as const) gpus.set(limits, await requestNodeGpu({ warn: null, limits }));
});

afterAll(async () => {
  for (const g of gpus.values()) {
    await g.device.queue.onSubmittedWorkDone();
    g.device.destroy();
  }
  removeSyntheticModels();
});

async function open(path: string, gpu: GpuContext): Promise<Engine> {
  const source = await FileByteSource.open(path);
  try {
    return await loadEngine(source, { gpu, contextSize: CONTEXT, maxBatch: MAX_BATCH });
  } finally {
    await source.close();
  }
}

async function steps(path: string, gpu: GpuContext) {
  const engine = await open(path, gpu);
  try {
    const prompt = engine.encodePrompt('Once upon a time, there was a');
    return { info: engine.info, steps: await greedySteps(engine, prompt, STEPS) };
  } finally {
    await engine.dispose();
  }
}

function expectSameSteps(a: Awaited<ReturnType<typeof greedySteps>>, b: Awaited<ReturnType<typeof greedySteps>>): void {
  expect(b.map((s) => s.token)).toEqual(a.map((s) => s.token));
  expect(a).toHaveLength(STEPS);
  for (let i = 0; i < a.length; i++) {
    expect(b[i]!.top.map(([id]) => id)).toEqual(a[i]!.top.map(([id]) => id));
    for (let j = 0; j < a[i]!.top.length; j++) expect(Math.abs(b[i]!.top[j]![1] - a[i]!.top[j]![1])).toBeLessThanOrEqual(1e-5);
  }
}

test("default and mobile devices get exactly WebGPU's default limits; adapter at least those", () => {
  for (const tier of ['default', 'mobile'] as const) {
    const g = gpus.get(tier)!;
    expect(g.limitsTier).toBe(tier);
    expect(g.limits.maxStorageBufferBindingSize).toBe(128 * 1024 * 1024);
    expect(g.limits.maxBufferSize).toBe(256 * 1024 * 1024);
    expect(g.limits.maxComputeWorkgroupStorageSize).toBe(16 * 1024);
    for (const [k, v] of Object.entries(WEBGPU_DEFAULT_LIMITS)) expect(g.limits[k as keyof typeof WEBGPU_DEFAULT_LIMITS], k).toBe(v);
  }
  const a = gpus.get('adapter')!;
  expect(a.limitsTier).toBe('adapter');
  for (const [k, v] of Object.entries(WEBGPU_DEFAULT_LIMITS))
    expect(a.limits[k as keyof typeof WEBGPU_DEFAULT_LIMITS], k).toBeGreaterThanOrEqual(v);
});

describe.each([
  ['stories260K-Q4_0 fixture', () => Promise.resolve(localModel('stories260K-Q4_0.gguf'))],
  ['synthetic qwen3 Q8_0', () => makeSyntheticModel(SYNTHETIC)],
])('%s', (_name, path) => {
  test('runs under default and mobile limits with the same tokens and top-5 probabilities (1e-5) as under adapter', async () => {
    const file = await path();
    const ref = await steps(file, gpus.get('adapter')!);
    expect(ref.info.limits).toBe('adapter');
    for (const tier of ['default', 'mobile'] as const) {
      const run = await steps(file, gpus.get(tier)!);
      expect(run.info.limits).toBe(tier);
      expectSameSteps(ref.steps, run.steps);
    }
  });

  test('a binding limit forced small on the context splits the embedding and every big tensor, with the same results', async () => {
    const file = await path();
    const ref = await steps(file, gpus.get('adapter')!);
    const limit = 12 * 1024;
    const counted = countingGpu(gpus.get('adapter')!, { maxStorageBufferBindingSize: limit, maxBufferSize: limit });
    const run = await steps(file, counted.gpu);
    const embdParts = counted.buffers.filter((b) => b.label.startsWith('token_embd.weight'));
    expect(embdParts.length).toBeGreaterThan(1);
    for (const b of counted.buffers) expect(b.size, b.label).toBeLessThanOrEqual(limit);
    expectSameSteps(ref.steps, run.steps);
  });
});

test('loadEngine refuses a limits option other than the one its device was created with', async () => {
  const source = await FileByteSource.open(localModel('stories260K-Q8_0.gguf'));
  try {
    await expect(loadEngine(source, { gpu: gpus.get('adapter')!, limits: 'default' })).rejects.toThrow(/created with 'adapter' limits/);
  } finally {
    await source.close();
  }
});
