// The demo page (picker, fit warnings, cached-models panel, files from disk) against the fake
// engine worker: everything the page does around the engine, without a GPU engine.
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { waitForLoadedModel } from './demo-helpers.ts';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const suite = useBrowserSuite();

async function openDemo(storage?: { usage: number; quota: number }): Promise<Page> {
  const context = await suite.newContext({ viewport: { width: 1100, height: 720 } });
  if (storage) {
    await context.addInitScript((s) => {
      navigator.storage.estimate = async () => s;
    }, storage);
  }
  const page = await context.newPage();
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${suite.server.url}/e2e/pages/demo.html`);
  return page;
}

const chatState = (p: Page) => p.locator('llm-chat').getAttribute('state');

test('first visit loads the bundled model; the picker lists the catalogue with sizes', async () => {
  const p = await openDemo();
  await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  const options = await p.locator('select[aria-label="Model"] option').allInnerTexts();
  expect(options[0]).toMatch(/^TinyStories 3M \(bundled, stories\) · Q4_K_M · 2\.09 MB/);
  expect(options.some((o) => /SmolLM2 135M Instruct · Q4_K_M · 105 MB/.test(o))).toBe(true);
  expect(options.some((o) => /BitNet b1\.58 2B4T \(official\) · I2_S \(ternary\) · 1\.19 GB/.test(o))).toBe(true);
  // Model details in the header, story prompts for a story model.
  expect(await p.locator('[aria-label="Model details"]').innerText()).toContain('tinystories-llama-3M-Q4_K_M.gguf');
  await p.locator('[aria-label="Story openings"] button').first().click();
  await p.waitForSelector('llm-chat .msg.assistant .stats');
  expect(await p.locator('llm-chat .msg.assistant .md').innerText()).toMatch(/^Once upon a time, there was a little dog named/);
  await p.screenshot({ path: join(ARTIFACTS, 'demo-app.png') });
  // The choice is remembered.
  expect(await p.evaluate(() => localStorage.getItem('lowbit.lastModel'))).toBe('{"kind":"entry","key":"tinystories-3m"}');
});

test('a model that does not fit the free storage is only downloaded after confirmation', async () => {
  const p = await openDemo({ usage: 10e6, quota: 60e6 });
  await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  await p.locator('select[aria-label="Model"]').selectOption('entry:smollm2-135m-q4km');
  await p.getByRole('button', { name: 'Load', exact: true }).click();
  const banner = p.locator('[role="alertdialog"]');
  await banner.waitFor();
  expect(await banner.innerText()).toContain('needs 105 MB of storage but only 50.0 MB is free');
  await p.screenshot({ path: join(ARTIFACTS, 'demo-warning.png') });
  await banner.getByRole('button', { name: 'Cancel' }).click();
  expect(await banner.count()).toBe(0);
  expect(await chatState(p)).toBe('ready');
  await p.locator('select[aria-label="Model"]').selectOption('entry:smollm2-135m-q4km');
  await p.getByRole('button', { name: 'Load', exact: true }).click();
  await p.getByRole('button', { name: 'Download anyway' }).click();
  await waitForLoadedModel(p, 'SmolLM2-135M-Instruct-Q4_K_M.gguf');
});

test('cached-models panel: lists stored models with size and storage use, loads and deletes them', async () => {
  const p = await openDemo({ usage: 123_000_000, quota: 2_000_000_000 });
  await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  await p.getByRole('button', { name: 'Cached models' }).click();
  const panel = p.locator('lowbit-model-cache');
  await panel.locator('li').first().waitFor();
  expect(await panel.locator('li').count()).toBe(1);
  expect(await panel.locator('li').innerText()).toMatch(/tinystories-llama-3M-Q4_K_M\.gguf[\s\S]*2\.09 MB · used just now/);
  // The running model is marked.
  await panel.locator('li.active').waitFor();
  expect(await panel.locator('li.active button').first().innerText()).toBe('Reload');
  expect(await panel.locator('.storage').innerText()).toContain('Storage: 123 MB used of 2.00 GB available to this site');
  // The select now marks the bundled model as cached.
  expect(await p.locator('select[aria-label="Model"] option').first().innerText()).toContain('· cached');
  await p.screenshot({ path: join(ARTIFACTS, 'demo-cache-panel.png') });
  await panel.getByRole('button', { name: 'Delete tinystories-llama-3M-Q4_K_M.gguf' }).click();
  await panel.locator('.empty').first().waitFor();
  expect(await panel.locator('li').count()).toBe(0);
});

test('a .gguf from disk (file input) runs as a file source; a non-GGUF file shows a format error', async () => {
  const p = await openDemo();
  await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  const gguf = Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(60)]);
  await p.locator('input[type=file]').setInputFiles({ name: 'my-model.gguf', mimeType: 'application/octet-stream', buffer: gguf });
  await waitForLoadedModel(p, 'my-model.gguf');
  await p
    .locator('input[type=file]')
    .setInputFiles({ name: 'notes.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from('hello world') });
  await p.waitForSelector('llm-chat[state="error"]');
  const text = await p.locator('llm-chat [part~="error"]').innerText();
  expect(text).toContain('This file is not a model lowbit can read');
  expect(text).toContain('bad magic');
});

test('dropping a .gguf file on the page opens it', async () => {
  const p = await openDemo();
  await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  await p.evaluate(() => {
    const app = document.querySelector('lowbit-demo')!;
    const dt = new DataTransfer();
    dt.items.add(new File([new TextEncoder().encode('GGUF'), new Uint8Array(60)], 'dropped.gguf'));
    app.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await p.waitForSelector('lowbit-demo .drop');
  expect(await p.locator('lowbit-demo .drop').innerText()).toContain('Drop a .gguf file');
  await p.evaluate(() => {
    const app = document.querySelector('lowbit-demo')!;
    const dt = new DataTransfer();
    dt.items.add(new File([new TextEncoder().encode('GGUF'), new Uint8Array(60)], 'dropped.gguf'));
    app.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await waitForLoadedModel(p, 'dropped.gguf');
  expect(await p.locator('lowbit-demo .drop').count()).toBe(0);
});
