// The pipelines a load warms up (described from the shapes, created before and during the weight
// upload) are exactly those the forward pass then asks for: it creates none of its own, for decode
// or for prefill, and none per step.
import { afterAll, expect, test } from 'vitest';
import { loadEngine } from '../../src/engine/engine.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { cachedPipelineCount } from '../../src/gpu/pipelines.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { demoModel, localModel } from '../helpers/fixtures.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';

afterAll(() => releaseTestGpu());

/**
 * A context whose device counts synchronous pipeline creations and serves the async ones with the
 * synchronous call (Node's Dawn is not trusted with createComputePipelineAsync).
 */
function pipelineCountingGpu(real: GpuContext): { gpu: GpuContext; sync: string[]; async: string[] } {
  const sync: string[] = [];
  const async: string[] = [];
  const device = new Proxy(real.device, {
    get(target, prop) {
      if (prop === 'createComputePipeline') {
        return (d: GPUComputePipelineDescriptor) => {
          sync.push(d.label ?? '');
          return target.createComputePipeline(d);
        };
      }
      if (prop === 'createComputePipelineAsync') {
        return async (d: GPUComputePipelineDescriptor) => {
          async.push(d.label ?? '');
          return target.createComputePipeline(d);
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { gpu: { ...real, device }, sync, async };
}

test.each([
  ['demo llama Q4_K_M', demoModel, 64],
  ['bitnet I2_S (sub-norms)', localModel('tinystories-bitnet-3M-I2_S.gguf'), 16],
])('%s: the forward pass finds every pipeline warmed up', async (_n, path, maxBatch) => {
  const counted = pipelineCountingGpu(await testGpu());
  const source = await FileByteSource.open(path);
  const phases: { done: number; total: number }[] = [];
  const engine = await loadEngine(source, {
    gpu: counted.gpu,
    contextSize: 96,
    maxBatch,
    asyncPipelines: true,
    onProgress: (p) => {
      if (p.phase === 'compile') phases.push({ done: p.bytesDone, total: p.bytesTotal });
    },
  }).finally(() => source.close());
  try {
    expect(counted.sync).toEqual([]);
    // The kernel phase counts the decode pipelines and ends complete; the prefill ones were
    // started after them (the fake async call settles at once, so they are cached by now).
    const last = phases[phases.length - 1]!;
    expect(last.total).toBeGreaterThan(10);
    expect(last.done).toBe(last.total);
    expect(counted.async.length).toBeGreaterThan(last.total);
    await new Promise((r) => setTimeout(r, 0));
    const warmed = counted.async.length;
    const before = cachedPipelineCount(counted.gpu.device);
    const stream = engine.generate([1, 2, 3, 4, 5, 6], { maxTokens: 3, temperature: 0 });
    for await (const _t of stream) void _t;
    await stream.stats;
    expect(counted.sync).toEqual([]);
    expect(counted.async.length).toBe(warmed);
    expect(cachedPipelineCount(counted.gpu.device)).toBe(before);
  } finally {
    await engine.dispose();
  }
});
