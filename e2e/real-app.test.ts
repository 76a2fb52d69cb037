// The demo and the element with the real engine worker: models download into IndexedDB (Range
// requests, resumable), then run on the GPU engine (SwiftShader WebGPU in headless Chromium).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { launchBrowser } from './browser.ts';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const BUNDLED = '/models/tinystories-llama-3M-Q4_K_M.gguf';
const BUNDLED_BYTES = 2_092_000;
/** The store's chunk size: a resumed download restarts at a chunk boundary. */
const CHUNK = 16 * 1024 * 1024;
const BIG_BYTES = 40 * 1024 * 1024;

/**
 * A page with just the element and a 40 MB download (not a model: the resume test only needs
 * bytes, and the engine's rejection of them shows as an error in place), and a story box.
 */
function makeSite(): string {
  const site = mkdtempSync(join(tmpdir(), 'lowbit-real-'));
  writeFileSync(join(site, 'big.gguf'), Buffer.alloc(BIG_BYTES, 0x5a));
  writeFileSync(
    join(site, 'index.html'),
    '<!doctype html><meta charset="utf-8"><script type="module" src="/llm-chat.js"></script><llm-chat model="/site/big.gguf"></llm-chat>',
  );
  writeFileSync(
    join(site, 'story.html'),
    `<!doctype html><meta charset="utf-8"><title>A story box</title>
<script type="module" src="/llm-chat.js"></script>
<llm-chat model="${BUNDLED}" max-tokens="16" temperature="0"></llm-chat>`,
  );
  return site;
}

const suite = useBrowserSuite({ extraRoots: () => ({ '/site/': makeSite() }) });

/** Stored models as the worker lists them, asked through the element bundle's own API. */
async function storedModels(page: Page): Promise<{ id: string; complete: boolean; bytesStored: number; bytes: number }[]> {
  // A string, so Vitest does not rewrite the page's dynamic import() into its own loader.
  return page.evaluate(`(async () => {
    const lib = await import('/llm-chat.js');
    const worker = lib.spawnEngineWorker();
    try {
      return await worker.listModels();
    } finally {
      worker.terminate();
    }
  })()`);
}

async function recordProgress(ctx: BrowserContext): Promise<void> {
  await ctx.addInitScript(() => {
    const w = window as unknown as { progress: { phase: string; bytesDone: number; bytesTotal: number }[] };
    w.progress = [];
    document.addEventListener('llm-progress', (e) => w.progress.push({ ...(e as CustomEvent).detail.progress }));
  });
}

describe('downloads into the model store', () => {
  test('first visit downloads the bundled model into IndexedDB with visible progress', async () => {
    const context = await suite.newContext({ viewport: { width: 1100, height: 720 } });
    await recordProgress(context);
    // Hold the model response briefly so the progress state is on screen for the screenshot.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await context.route(`**${BUNDLED}`, async (route: Route) => {
      await held;
      await route.continue();
    });
    const page = await context.newPage();
    const before = suite.server.bytesSent.get(BUNDLED) ?? 0;
    await page.goto(`${suite.server.url}/`);
    await page.waitForSelector('llm-chat[state="loading"] [role="progressbar"]');
    await page.screenshot({ path: join(ARTIFACTS, 'real-first-visit-progress.png') });
    release();
    await page.waitForSelector('llm-chat[state="ready"]', { timeout: 60_000 });
    expect((suite.server.bytesSent.get(BUNDLED) ?? 0) - before).toBe(BUNDLED_BYTES);
    const progress = await page.evaluate(
      () => (window as unknown as { progress: { phase: string; bytesDone: number; bytesTotal: number }[] }).progress,
    );
    const download = progress.filter((p) => p.phase === 'download');
    expect(download.length).toBeGreaterThan(0);
    expect(download.at(-1)).toMatchObject({ bytesDone: BUNDLED_BYTES, bytesTotal: BUNDLED_BYTES });
    expect(await storedModels(page)).toEqual([
      expect.objectContaining({ id: 'tinystories-llama-3M-Q4_K_M.gguf', complete: true, bytesStored: BUNDLED_BYTES }),
    ]);
  });

  test('an interrupted download resumes on reload from the last stored chunk', async () => {
    const context = await suite.newContext();
    const path = '/site/big.gguf';
    // First visit: the first chunk goes through, the others hang until the page is reloaded.
    let holding = true;
    const ranges: string[] = [];
    await context.route(`**${path}`, async (route) => {
      const range = route.request().headers().range ?? '';
      ranges.push(range);
      // Held requests are never answered: they die with the first page's worker.
      if (!holding || range.startsWith('bytes=0-')) await route.continue();
    });
    const page = await context.newPage();
    const before = suite.server.bytesSent.get(path) ?? 0;
    await page.goto(`${suite.server.url}/site/`);
    await expect.poll(async () => (await storedModels(page))[0]?.bytesStored ?? 0, { timeout: 30_000, interval: 250 }).toBe(CHUNK);
    const firstVisit = (suite.server.bytesSent.get(path) ?? 0) - before;
    expect(firstVisit).toBe(CHUNK);
    // Reload with the network healthy: only the missing chunks are fetched.
    holding = false;
    await page.reload();
    await expect.poll(async () => (await storedModels(page))[0]?.complete, { timeout: 60_000, interval: 250 }).toBe(true);
    const secondVisit = (suite.server.bytesSent.get(path) ?? 0) - before - firstVisit;
    expect(secondVisit, `ranges requested: ${ranges.join(', ')}`).toBe(BIG_BYTES - CHUNK);
    // The bytes are not a model: the engine says so, in place.
    await page.waitForSelector('llm-chat[state="error"]', { timeout: 60_000 });
    expect(await page.locator('llm-chat [part~="error"]').innerText()).toContain('This file is not a model lowbit can read');
  });
});

test('without WebGPU the element says so before downloading anything', async () => {
  // Chromium without the WebGPU flags has no navigator.gpu.
  const plain = await launchBrowser({ webgpu: false });
  try {
    const page = await plain.newPage();
    const before = suite.server.bytesSent.get('/site/big.gguf') ?? 0;
    await page.goto(`${suite.server.url}/site/`);
    expect(await page.evaluate(async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter())))).toBe(false);
    await page.waitForSelector('llm-chat[state="error"]', { timeout: 30_000 });
    expect(await page.locator('llm-chat [part~="error"]').innerText()).toContain('WebGPU is not available in this browser');
    expect((suite.server.bytesSent.get('/site/big.gguf') ?? 0) - before).toBe(0);
    await page.locator('llm-chat').screenshot({ path: join(ARTIFACTS, 'real-no-webgpu.png') });
  } finally {
    await plain.close();
  }
});

describe('chat on the GPU engine', () => {
  test('the bundled model answers a prompt with a streamed reply and tokens/s', async () => {
    const context = await suite.newContext({ viewport: { width: 1100, height: 720 } });
    const page = await context.newPage();
    await page.goto(`${suite.server.url}/`);
    await page.waitForSelector('llm-chat[state="ready"]', { timeout: 120_000 });
    await page.evaluate(() => {
      const w = window as unknown as { tokens: number };
      w.tokens = 0;
      document.addEventListener('llm-token', () => w.tokens++);
      // SwiftShader decodes a few tokens per second: keep the reply short.
      document.querySelector('lowbit-demo')!.shadowRoot!.querySelector('llm-chat')!.maxTokens = 24;
    });
    await page.locator('llm-chat textarea').fill('Once upon a time');
    await page.locator('llm-chat textarea').press('Enter');
    await page.waitForSelector('llm-chat[state="generating"]');
    await page.waitForSelector('llm-chat[state="ready"] .stats', { timeout: 120_000 });
    const tokens = await page.evaluate(() => (window as unknown as { tokens: number }).tokens);
    expect(tokens).toBeGreaterThan(3);
    expect(tokens).toBeLessThanOrEqual(24);
    const reply = await page.locator('llm-chat .msg.assistant .md').innerText();
    expect(reply.startsWith('Once upon a time')).toBe(true);
    expect(reply.length).toBeGreaterThan('Once upon a time'.length + 10);
    const stats = await page.locator('llm-chat .stats').innerText();
    expect(stats).toMatch(/^[\d.]+ tokens\/s · \d+ tokens/);
    expect(Number(stats.split(' ')[0])).toBeGreaterThan(0);
    console.log(`bundled model on SwiftShader: ${stats}`);
    await page.screenshot({ path: join(ARTIFACTS, 'real-chat.png') });
  });

  test('a third-party page with only the script tag and <llm-chat model=…> runs the model', async () => {
    const context = await suite.newContext();
    const page = await context.newPage();
    await page.goto(`${suite.server.url}/site/story.html`);
    await page.waitForSelector('llm-chat[state="ready"]', { timeout: 120_000 });
    // No chat template: the element continues the text.
    expect(await page.locator('llm-chat textarea').getAttribute('placeholder')).toBe('Write the beginning of a story…');
    await page.locator('llm-chat textarea').fill('Once upon a time');
    await page.locator('llm-chat textarea').press('Enter');
    await page.waitForSelector('llm-chat[state="ready"] .stats', { timeout: 120_000 });
    const reply = await page.locator('llm-chat .msg.assistant .md').innerText();
    // Greedy (temperature 0): the fixture's documented llama.cpp continuation starts ", a little girl named".
    expect(reply).toMatch(/^Once upon a time, a little girl named/);
    expect(await page.locator('llm-chat .stats').innerText()).toMatch(/tokens\/s · 16 tokens/);
  });

  test('offline: reload from the service worker, the cached model loads and chats', async () => {
    const context = await suite.newContext();
    const page = await context.newPage();
    await page.goto(`${suite.server.url}/`);
    await page.waitForFunction(() => navigator.serviceWorker?.controller !== null, null, { timeout: 30_000 });
    await page.waitForSelector('llm-chat[state="ready"]', { timeout: 120_000 });
    const served = suite.server.bytesSent.get(BUNDLED) ?? 0;
    await context.setOffline(true);
    try {
      await page.reload();
      await page.waitForSelector('llm-chat[state="ready"]', { timeout: 120_000 });
      await page.evaluate(() => (document.querySelector('lowbit-demo')!.shadowRoot!.querySelector('llm-chat')!.maxTokens = 24));
      await page.locator('llm-chat textarea').fill('Once upon a time');
      await page.locator('llm-chat textarea').press('Enter');
      await page.waitForSelector('llm-chat[state="ready"] .stats', { timeout: 120_000 });
      expect((await page.locator('llm-chat .msg.assistant .md').innerText()).length).toBeGreaterThan(20);
      expect(suite.server.bytesSent.get(BUNDLED) ?? 0).toBe(served);
    } finally {
      await context.setOffline(false);
    }
  });
});
