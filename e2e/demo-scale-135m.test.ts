// The SmolLM2-135M shape (Q4_K_M, random weights, its real tokenizer size and chat template) in the
// demo with the real engine worker: pulled by URL from another origin into IndexedDB, chatted with
// through its ChatML template, then reloaded offline (model server stopped) and chatted with again.
import { mkdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, expect, test } from 'vitest';
import { generateScaleModel, scaleModelDir } from '../scripts/scale-models/generate.ts';
import { recipeByName } from '../scripts/scale-models/recipes.ts';
import { readGGUF } from '../src/gguf/reader.ts';
import { FileByteSource } from '../src/io/file-byte-source.ts';
import { NodeQuantizePool } from '../src/quant/node-quantize-pool.ts';
import { tokenizerFromGGUF } from '../src/tokenizer/from-gguf.ts';
import { repoRoot } from '../test/helpers/fixtures.ts';
import { useBrowserSuite } from './harness.ts';
import { serveStatic } from './server.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
/** SwiftShader decodes the 135M shape slowly: a reply of a few tokens shows that generation runs. */
const MAX_TOKENS = 3;
const USER_TEXT = 'Hi there';
/**
 * What llama.cpp's template engine renders for one user turn with SmolLM2-Instruct's template,
 * written out by hand (not rendered by lowbit): the default system turn, the user turn, and the
 * assistant header the reply continues.
 */
const CHATML_PROMPT =
  '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' +
  `<|im_start|>user\n${USER_TEXT}<|im_end|>\n<|im_start|>assistant\n`;

let modelPath = '';
/** The number of tokens the engine must see for CHATML_PROMPT, counted with the file's own tokenizer. */
let chatmlTokens = 0;

const suite = useBrowserSuite();

beforeAll(async () => {
  const dir = scaleModelDir(repoRoot);
  mkdirSync(dir, { recursive: true });
  const pool = new NodeQuantizePool();
  try {
    modelPath = (await generateScaleModel(recipeByName('smollm2-135m-Q4_K_M')!, dir, pool)).path;
  } finally {
    await pool.close();
  }
  const source = await FileByteSource.open(modelPath);
  try {
    const tokenizer = await tokenizerFromGGUF(await readGGUF(source));
    try {
      chatmlTokens = tokenizer.encode(CHATML_PROMPT, { addSpecial: true, parseSpecial: true }).length;
      // The template's control tokens are single tokens: without them the count would be far higher.
      expect(chatmlTokens).toBeLessThan(tokenizer.encode(CHATML_PROMPT, { addSpecial: true, parseSpecial: false }).length);
    } finally {
      tokenizer.dispose();
    }
  } finally {
    await source.close();
  }
}, 900_000);

const demoChat = (page: Page) => page.locator('lowbit-demo llm-chat');

/** Progress lines while a slow step runs, so a stall shows where it is. */
const step = (what: string) => console.log(`${new Date().toISOString()} demo-scale-135m: ${what}`);

/**
 * Waits until <llm-chat> is ready with the stored model `fileName` (the picker names it); a load
 * that fails instead ends the wait with its message.
 */
async function waitForModel(page: Page, fileName: string, timeout: number): Promise<void> {
  const ready = page.waitForSelector('llm-chat[state="ready"]', { timeout }).then(() => '');
  const failed = page
    .locator('llm-chat[state="error"]')
    .waitFor({ timeout })
    .then(() => page.locator('llm-chat [part~="error"]').innerText());
  const problem = await Promise.race([ready, failed.catch(() => new Promise<string>(() => undefined))]);
  expect(problem, 'the model failed to load').toBe('');
  await page.waitForFunction(
    (key) => document.querySelector('lowbit-demo')!.shadowRoot!.querySelector('select')!.value === key,
    `stored:${fileName}`,
    { timeout: 30_000 },
  );
}

/** Sends USER_TEXT with few max tokens and returns the stats of the reply (from the llm-done event). */
async function chatOnce(page: Page): Promise<{ promptTokens: number; generatedTokens: number }> {
  await page.evaluate((maxTokens) => {
    const w = window as unknown as { done: unknown[] };
    w.done = [];
    document.addEventListener('llm-done', (e) => w.done.push((e as CustomEvent<{ stats: unknown }>).detail.stats));
    document.querySelector('lowbit-demo')!.shadowRoot!.querySelector('llm-chat')!.maxTokens = maxTokens;
  }, MAX_TOKENS);
  await page.locator('llm-chat textarea').fill(USER_TEXT);
  await page.locator('llm-chat textarea').press('Enter');
  await page.waitForFunction(() => (window as unknown as { done: unknown[] }).done.length > 0, null, { timeout: 600_000 });
  await page.waitForSelector('llm-chat[state="ready"] .stats', { timeout: 60_000 });
  return page.evaluate(() => (window as unknown as { done: { promptTokens: number; generatedTokens: number }[] }).done[0]!);
}

test('the 135M shape: pulled by URL into IndexedDB, chats in ChatML, reloads offline and chats again', { timeout: 1_500_000 }, async () => {
  const fileName = basename(modelPath);
  // Another origin than the app (localhost, which the page's CSP allows, vs 127.0.0.1), with CORS and Range.
  const modelServer = await serveStatic(dirname(modelPath), {}, { cors: true });
  const modelUrl = `${modelServer.url.replace('127.0.0.1', 'localhost')}/${encodeURIComponent(fileName)}`;
  let modelServerOpen = true;
  const context = await suite.newContext({ viewport: { width: 1100, height: 720 } });
  try {
    const page = await context.newPage();
    // A step that cannot happen fails with its selector instead of waiting for the test's timeout.
    page.setDefaultTimeout(120_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && step(`page console: ${m.text()}`));
    await page.goto(`${suite.server.url}/`);
    await page.waitForFunction(() => navigator.serviceWorker?.controller !== null, null, { timeout: 60_000 });
    await page.waitForSelector('llm-chat[state="ready"]', { timeout: 300_000 });
    step('bundled model ready');

    // A hostile URL is refused in the form, with nothing sent to the model server.
    await page.locator('select[aria-label="Model"]').selectOption('url');
    const form = page.locator('form[aria-label="Model from a URL"]');
    await form.locator('input').fill('javascript:alert(1)//x.gguf');
    await form.getByRole('button', { name: 'Download and load' }).click();
    expect(await form.locator('[role="alert"]').innerText()).toMatch(/javascript: URL: models download over https only/);
    expect(await demoChat(page).getAttribute('state')).toBe('ready');
    step('hostile URL refused');

    // The real URL: downloaded with progress into the store, then loaded.
    const progress: number[] = [];
    await page.exposeFunction('recordProgress', (bytes: number) => progress.push(bytes));
    await page.evaluate(() =>
      document.addEventListener('llm-progress', (e) => {
        const p = (e as CustomEvent<{ progress: { phase: string; bytesDone: number } }>).detail.progress;
        if (p.phase === 'download') void (window as unknown as { recordProgress(n: number): void }).recordProgress(p.bytesDone);
      }),
    );
    await form.locator('input').fill(modelUrl);
    await form.getByRole('button', { name: 'Download and load' }).click();
    await page.waitForSelector('llm-chat[state="loading"]');
    step('download started');
    await waitForModel(page, fileName, 900_000);
    step('pulled and loaded');
    const details = await page.locator('[aria-label="Model details"]').innerText();
    step(`details: ${details}`);
    // The generated file's own type mix (SmolLM2's 576-wide rows fall back to Q5_0).
    expect(details).toContain('Q5_0×166');
    expect(modelServer.bytesSent.get(`/${fileName}`)).toBeGreaterThanOrEqual(statSync(modelPath).size);
    expect(progress.length).toBeGreaterThan(1);
    expect(new Set(progress).size).toBeGreaterThan(1);
    // In the store, under its URL; the picker remembers it as a stored model.
    const stored = await page.evaluate(
      async () =>
        await (
          document.querySelector('lowbit-demo') as unknown as {
            worker: { listModels(): Promise<{ id: string; url?: string; complete: boolean }[]> };
          }
        ).worker.listModels(),
    );
    expect(stored).toContainEqual(expect.objectContaining({ id: fileName, url: modelUrl, complete: true }));
    expect(JSON.parse((await page.evaluate(() => localStorage.getItem('lowbit.lastModel')))!)).toEqual({ kind: 'stored', id: fileName });
    // A chat model: no story openings, the composer asks for a message.
    expect(await page.locator('[aria-label="Story openings"]').count()).toBe(0);

    // The prompt the engine saw is the template's ChatML, to the token.
    const online = await chatOnce(page);
    step(`replied: ${JSON.stringify(online)}`);
    expect(online.promptTokens).toBe(chatmlTokens);
    expect(online.generatedTokens).toBeGreaterThanOrEqual(1);
    expect(online.generatedTokens).toBeLessThanOrEqual(MAX_TOKENS);
    await page.screenshot({ path: join(ARTIFACTS, 'demo-scale-135m.png') });

    // Offline, model server gone: the page comes from the service worker, the model from IndexedDB.
    await modelServer.close();
    modelServerOpen = false;
    await context.setOffline(true);
    await page.reload();
    await waitForModel(page, fileName, 600_000);
    step('reloaded offline from the store');
    expect(await page.evaluate(() => navigator.onLine)).toBe(false);
    const offline = await chatOnce(page);
    expect(offline.promptTokens).toBe(chatmlTokens);
    expect(offline.generatedTokens).toBeGreaterThanOrEqual(1);
    expect(errors).toEqual([]);
  } finally {
    await context.setOffline(false);
    if (modelServerOpen) await modelServer.close();
  }
});
