// GPU device loss in the in-process engine (Node, Dawn): a device destroyed mid-generation ends
// the generation with DeviceLostError (not a bare OperationError or a hang), `engine.lost`
// resolves, and every later call fails fast with the same error.
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { DeviceLostError } from '../../src/errors.ts';
import { openEngine, releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';

const MODEL = join(import.meta.dirname, '../fixtures/models/stories260K-Q8_0.gguf');

afterAll(() => releaseTestGpu());

test('a device destroyed mid-generation rejects the generation and later calls with DeviceLostError', async () => {
  const engine = await openEngine(MODEL);
  const gpu = await testGpu();
  const stream = engine.generate('Once upon a time', { maxTokens: 100, temperature: 0 });
  let tokens = 0;
  let thrown: unknown;
  try {
    for await (const _ of stream) {
      if (++tokens === 3) gpu.device.destroy();
    }
  } catch (e) {
    thrown = e;
  }
  expect(tokens).toBeGreaterThanOrEqual(3);
  expect(tokens).toBeLessThan(100);
  expect(thrown).toBeInstanceOf(DeviceLostError);
  expect((thrown as Error).message).toMatch(/GPU device lost \(destroyed\).*Reload the model/);
  await expect(stream.stats).rejects.toBeInstanceOf(DeviceLostError);
  expect(await engine.lost).toBe(thrown);
  // Later calls fail at once, with the same error.
  expect(() => engine.generate('again')).toThrow(DeviceLostError);
  expect(() => engine.chat([{ role: 'user', content: 'hi' }])).toThrow(DeviceLostError);
  await expect(engine.reset()).rejects.toBeInstanceOf(DeviceLostError);
  // Disposing a dead engine still works (no wait on the dead queue).
  await engine.dispose();
});
