// A decode step with int8 activations keeps the runtime's step contract (DESIGN.md: the GPU
// never waits for JavaScript): one submission, at most 16 bytes read back, no GPU object created
// per step; the quantize dispatches it adds are counted against the f32 step.
import { afterAll, expect, test } from 'vitest';
import { loadEngine } from '../../src/engine/engine.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { measureRun } from '../../bench/lib/e2e-measure.ts';
import { demoModel, localModel } from '../helpers/fixtures.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';

afterAll(() => releaseTestGpu());

async function measure(path: string, activations: 'f32' | 'int8') {
  const gpu = await testGpu();
  const source = await FileByteSource.open(path);
  const engine = await loadEngine(source, { gpu, contextSize: 64, activations }).finally(() => source.close());
  try {
    expect(engine.info.activations).toBe(activations);
    return { nLayer: engine.config.nLayer, ...(await measureRun(engine, gpu, { promptTokens: 8, decodeTokens: 6 })) };
  } finally {
    await engine.dispose();
  }
}

// Dispatches per layer the int8 graph has beyond the fused f32 one (see below): 1, on both.
test.each([
  ['demo llama Q4_K_M', demoModel, 1],
  ['bitnet I2_S', localModel('tinystories-bitnet-3M-I2_S.gguf'), 1],
])('%s: int8 decode steps submit once, read back ≤ 16 B and create nothing', async (_n, path, extraPerLayer) => {
  const int8 = await measure(path, 'int8');
  expect(int8.submissionsPerStep).toBe(1);
  expect(int8.readbackBytesPerStep).toBeLessThanOrEqual(16);
  expect(int8.newGpuObjectsPerStep).toBe(0);
  const f32 = await measure(path, 'f32');
  // The int8 graph is the fused one plus the quantize of each layer's attention output, the
  // first layer's input and the LM head's input: the o, gate·up and down mat-vecs quantize the
  // next linear's input as they store it. test/engine/dispatches.test.ts pins both counts; here
  // the difference must have that structure, a little under it as prefill steps are averaged in.
  const extra = extraPerLayer * int8.nLayer + 2;
  expect(int8.dispatchesPerStep - f32.dispatchesPerStep).toBeGreaterThan(extra * 0.5);
  expect(int8.dispatchesPerStep - f32.dispatchesPerStep).toBeLessThanOrEqual(extra);
  console.log(`${_n}: dispatches per step f32 ${f32.dispatchesPerStep.toFixed(1)}, int8 ${int8.dispatchesPerStep.toFixed(1)}`);
});
