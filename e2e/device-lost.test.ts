// GPU device loss with the real engine worker in Chromium (SwiftShader WebGPU): the worker's
// device is destroyed in the middle of a reply. The element must say so (state error, llm-error
// with DeviceLostError, a "Reload model" action) instead of staying "ready" on a dead engine; the
// action must make a new device and load the model again from the store, with no download; and
// chatting must work again.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page, Worker } from 'playwright-core';
import { expect, test } from 'vitest';
import { useBrowserSuite } from './harness.ts';

const BUNDLED = '/models/tinystories-llama-3M-Q4_K_M.gguf';

/** A page with the element bundle and an engine worker made before any model is loaded. */
function makeSite(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-lost-'));
  writeFileSync(
    join(dir, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>device loss</title>
<llm-chat max-tokens="200" temperature="0"></llm-chat>
<script type="module">
  import { spawnEngineWorker } from '/llm-chat.js';
  window.lowbitWorker = spawnEngineWorker();
  document.documentElement.dataset.ready = 'true';
</script>`,
  );
  return dir;
}

const suite = useBrowserSuite({ extraRoots: () => ({ '/site/': makeSite() }) });

/** Records the GPU devices the engine worker creates, so the test can destroy one. */
async function watchDevices(worker: Worker): Promise<void> {
  await worker.evaluate(() => {
    const scope = self as unknown as { lowbitTestDevices: GPUDevice[] };
    scope.lowbitTestDevices = [];
    const request = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = async function (this: GPUAdapter, descriptor?: GPUDeviceDescriptor) {
      const device = await request.call(this, descriptor);
      scope.lowbitTestDevices.push(device);
      return device;
    };
  });
}

const deviceCount = (worker: Worker) =>
  worker.evaluate(() => (self as unknown as { lowbitTestDevices: GPUDevice[] }).lowbitTestDevices.length);

async function send(page: Page, text: string): Promise<void> {
  await page.locator('llm-chat textarea').fill(text);
  await page.locator('llm-chat textarea').press('Enter');
}

test('device destroyed mid-reply: error and "Reload model" shown, reload makes a new device from the store, chat works again', async () => {
  const { page, errors } = await suite.openPage('/site/');
  await expect.poll(() => page.workers().length).toBe(1);
  const worker = page.workers()[0]!;
  await watchDevices(worker);
  await page.evaluate((model) => {
    const w = window as unknown as {
      lowbitWorker: { load: (s: unknown, o: unknown) => Promise<unknown> };
      events: unknown[];
      tokens: number;
    };
    w.events = [];
    w.tokens = 0;
    document.addEventListener('llm-token', () => w.tokens++);
    document.addEventListener('llm-error', (e) => {
      const { error, during } = (e as CustomEvent).detail;
      w.events.push({ during, name: error.name, message: error.message });
    });
    const el = document.querySelector('llm-chat')!;
    el.loader = (s, o) => w.lowbitWorker.load(s, o) as never;
    el.model = model;
  }, BUNDLED);
  await page.waitForSelector('llm-chat[state="ready"]', { timeout: 120_000 });
  expect(await deviceCount(worker)).toBe(1);

  await send(page, 'Once upon a time');
  await page.waitForFunction(() => (window as unknown as { tokens: number }).tokens >= 2, null, { timeout: 120_000 });
  expect(await page.locator('llm-chat').getAttribute('state')).toBe('generating');
  await worker.evaluate(() => (self as unknown as { lowbitTestDevices: GPUDevice[] }).lowbitTestDevices[0]!.destroy());

  await page.waitForSelector('llm-chat[state="error"]', { timeout: 60_000 });
  const panel = page.locator('llm-chat .error.panel');
  expect(await panel.innerText()).toContain('The GPU stopped responding');
  expect(await panel.innerText()).toContain('GPU device lost (destroyed)');
  const events = await page.evaluate(() => (window as unknown as { events: { during: string; name: string }[] }).events);
  // One report: the reply that was running failed with the loss.
  expect(events.map(({ during, name }) => ({ during, name }))).toEqual([{ during: 'generate', name: 'DeviceLostError' }]);
  expect(await page.locator('llm-chat [part~="send-button"]').isDisabled()).toBe(true);
  const tokensAtLoss = await page.evaluate(() => (window as unknown as { tokens: number }).tokens);
  expect(tokensAtLoss).toBeLessThan(200);

  const served = suite.server.bytesSent.get(BUNDLED) ?? 0;
  expect(served).toBeGreaterThan(0);
  await page.locator('llm-chat [part~="reload-button"]').click();
  await page.waitForSelector('llm-chat[state="ready"]', { timeout: 120_000 });
  expect(await deviceCount(worker)).toBe(2);
  expect(suite.server.bytesSent.get(BUNDLED) ?? 0).toBe(served);
  expect(await page.locator('llm-chat .error.panel').count()).toBe(0);

  await page.evaluate(() => (document.querySelector('llm-chat')!.maxTokens = 8));
  await send(page, 'The big red ball');
  await page.waitForFunction(() => document.querySelector('llm-chat')!.shadowRoot!.querySelectorAll('.stats').length === 1, null, {
    timeout: 120_000,
  });
  await page.waitForSelector('llm-chat[state="ready"]');
  const reply = await page.locator('llm-chat .msg.assistant .md').last().innerText();
  expect(reply.startsWith('The big red ball')).toBe(true);
  expect(reply.length).toBeGreaterThan('The big red ball'.length);
  expect(await page.locator('llm-chat .stats').innerText()).toMatch(/tokens\/s · 8 tokens/);
  expect(errors).toEqual([]);
});
