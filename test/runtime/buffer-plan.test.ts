// The forward pass allocates exactly the buffers forwardBufferPlan lists (label and size), so the
// memory estimate that sums the plan cannot drift from what a load creates.
import { afterAll, expect, test } from 'vitest';
import { loadEngine } from '../../src/engine/engine.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { forwardBufferBytes, forwardBufferPlan } from '../../src/runtime/buffer-plan.ts';
import { demoModel, localModel } from '../helpers/fixtures.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { countingGpu } from '../engine/counting-gpu.ts';

afterAll(() => releaseTestGpu());

test.each([
  ['demo llama Q4_K_M', demoModel, 200, 64],
  ['bitnet I2_S (sub-norms)', localModel('tinystories-bitnet-3M-I2_S.gguf'), 96, 16],
])('%s: every planned buffer is created with its label and size', async (_n, path, contextSize, maxBatch) => {
  const counted = countingGpu(await testGpu());
  const source = await FileByteSource.open(path);
  const engine = await loadEngine(source, { gpu: counted.gpu, contextSize, maxBatch }).finally(() => source.close());
  try {
    const plan = forwardBufferPlan(engine.config, { contextSize, maxBatch });
    expect(plan.length).toBeGreaterThan(2 * engine.config.nLayer);
    for (const b of plan) {
      const made = counted.buffers.filter((c) => c.label === b.label);
      expect(
        made.map((c) => c.size),
        b.label,
      ).toEqual([b.bytes]);
    }
    const totals = forwardBufferBytes(plan);
    expect(engine.info.gpuBytes.kvCache).toBe(totals.kvCache);
    expect(engine.info.gpuBytes.scratch).toBe(totals.scratch);
    expect(totals.kvCache).toBe(2 * engine.config.nLayer * engine.config.nHeadKV * engine.config.headDim * contextSize * 4);
  } finally {
    await engine.dispose();
  }
});
