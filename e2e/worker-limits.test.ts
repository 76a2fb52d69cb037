// The real engine worker in Chromium (SwiftShader WebGPU) honours `limits` and `maxGpuBytes`
// (issue 10 items 4, 5): the worker creates its device with the asked-for limits (a new device
// when they change), the bundled model gives the same greedy tokens under each, and a budget
// below the model fails with a typed GpuMemoryBudgetError before anything is uploaded.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { useBrowserSuite } from './harness.ts';

function makeSite(): string {
  const site = mkdtempSync(join(tmpdir(), 'lowbit-limits-'));
  writeFileSync(join(site, 'index.html'), '<!doctype html><meta charset="utf-8"><title>limits</title>');
  return site;
}

const suite = useBrowserSuite({ extraRoots: () => ({ '/site/': makeSite() }) });

interface Result {
  runs: { asked: string; info: string; tokens: number[] }[];
  budgetError: { name: string; largestContext: number; isDeviceLimit: boolean; message: string };
}

test('adapter, default and mobile limits: same tokens, ModelInfo.limits says which; a small budget is a GpuMemoryBudgetError', async () => {
  const { page } = await suite.openPage('/site/', { waitReady: false });
  // A string, so Vitest does not rewrite the page's dynamic import() into its own loader.
  const result = (await page.evaluate(`(async () => {
    const lib = await import('/llm-chat.js');
    const worker = lib.spawnEngineWorker();
    const source = { kind: 'url', url: new URL('/models/tinystories-llama-3M-Q4_K_M.gguf', location.href).href };
    try {
      const runs = [];
      for (const limits of ['adapter', 'default', 'mobile', 'adapter']) {
        const engine = await worker.load(source, { contextSize: 64, limits });
        const tokens = [];
        for await (const t of engine.generate('Once upon a time', { maxTokens: 6, temperature: 0 })) if (t.id >= 0) tokens.push(t.id);
        runs.push({ asked: limits, info: engine.info.limits, tokens });
      }
      let budgetError = null;
      try {
        await worker.load(source, { contextSize: 64, limits: 'default', maxGpuBytes: 1000000 });
      } catch (e) {
        budgetError = { name: e.name, largestContext: e.largestContext, isDeviceLimit: e instanceof lib.errors.DeviceLimitError, message: e.message };
      }
      return { runs, budgetError };
    } finally {
      worker.terminate();
    }
  })()`)) as Result;
  expect(result.runs.map((r) => r.info)).toEqual(['adapter', 'default', 'mobile', 'adapter']);
  expect(result.runs[0]!.tokens).toHaveLength(6);
  for (const r of result.runs) expect(r.tokens, r.asked).toEqual(result.runs[0]!.tokens);
  expect(result.budgetError).toMatchObject({ name: 'GpuMemoryBudgetError', largestContext: 0, isDeviceLimit: true });
  expect(result.budgetError.message).toMatch(/over the budget of 1000000 bytes; the weights alone do not fit/);
});
