// The worker path carries `limits` and `maxGpuBytes` (issue 10 items 4, 5): EngineWorker.load on
// the page → protocol message (structured clone) → serveEngine → the backend's LoadOptions, so
// <llm-chat> and the demo can ask for them; a GpuMemoryBudgetError comes back typed, with its fields.
import { MessageChannel } from 'node:worker_threads';
import { afterEach, expect, test } from 'vitest';
import type { LoadOptions } from '../../src/engine/types.ts';
import { EngineWorker, type WorkerEndpoint } from '../../src/engine/worker-client.ts';
import { serveEngine, type EngineBackend, type MessageEndpoint } from '../../src/engine/worker-host.ts';
import { DeviceLimitError, GpuMemoryBudgetError } from '../../src/errors.ts';
import { describeError } from '../../src/ui/error-text.ts';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

function harness(load: EngineBackend['load']): EngineWorker {
  const { port1, port2 } = new MessageChannel();
  const host = serveEngine(port2 as unknown as MessageEndpoint, { load, listModels: async () => [], deleteModel: async () => undefined });
  closers.push(() => {
    host.close();
    port1.close();
  });
  return new EngineWorker(port1 as unknown as WorkerEndpoint);
}

test('limits and maxGpuBytes reach the backend', async () => {
  const seen: LoadOptions[] = [];
  const client = harness(async (_source, options) => {
    seen.push(options);
    throw new GpuMemoryBudgetError(
      'this model needs 900 bytes of GPU memory, over the budget of 500 bytes; a context of at most 64 tokens would fit',
      900,
      500,
      64,
    );
  });
  const err = await client
    .load({ kind: 'url', url: 'https://example.test/m.gguf' }, { contextSize: 128, limits: 'mobile', maxGpuBytes: 500 })
    .catch((e: unknown) => e);
  expect(seen).toHaveLength(1);
  expect(seen[0]).toMatchObject({ contextSize: 128, limits: 'mobile', maxGpuBytes: 500 });
  expect(err).toBeInstanceOf(GpuMemoryBudgetError);
  expect(err).toBeInstanceOf(DeviceLimitError);
  expect(err).toMatchObject({ neededBytes: 900, availableBytes: 500, largestContext: 64 });
});

test('left out, they stay undefined (the backend picks adapter limits and no budget)', async () => {
  const seen: LoadOptions[] = [];
  const client = harness(async (_source, options) => {
    seen.push(options);
    throw new Error('stop here');
  });
  await client.load({ kind: 'stored', id: 'x' }).catch(() => undefined);
  expect(seen[0]!.limits).toBeUndefined();
  expect(seen[0]!.maxGpuBytes).toBeUndefined();
});

test('the page explains a GpuMemoryBudgetError as too big, suggesting a smaller context', () => {
  const text = describeError(new GpuMemoryBudgetError('needs 900 bytes; a context of at most 64 tokens would fit', 900, 500, 64));
  expect(text.title).toBe('This model is too big for this device');
  expect(text.detail).toContain('at most 64 tokens');
  expect(text.hint).toMatch(/smaller context size/);
});

test('autotune reaches the backend through the worker (issue 11 item 5)', async () => {
  const seen: LoadOptions[] = [];
  const client = harness(async (_source, options) => {
    seen.push(options);
    throw new Error('stop here');
  });
  await client.load({ kind: 'stored', id: 'x' }, { autotune: 'retune' }).catch(() => undefined);
  expect(seen[0]!.autotune).toBe('retune');
});
