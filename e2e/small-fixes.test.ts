// The smaller items of the demo/<llm-chat> review: "context full" rather than "hit the token
// limit", a file from disk is copied (not downloaded), the progress panel announces phases only,
// "No model loaded yet." does not flash on start, no "Download anyway" without WebGPU, and a
// cancelled download is listed with the bytes it stored.
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const suite = useBrowserSuite();

const chatPage = async (): Promise<Page> => (await suite.openPage('/e2e/pages/chat.html', { viewport: { width: 720, height: 560 } })).page;

test('a reply cut by a full context says "context full"; one cut by max-tokens says "hit the token limit"', async () => {
  const p = await chatPage();
  await p.evaluate(() => {
    const { FakeEngine, toTokens } = window.lowbitTest;
    for (const [id, contextSize] of [
      ['small', 5],
      ['large', 512],
    ] as const) {
      const el = document.createElement('llm-chat');
      el.id = id;
      el.maxTokens = 3;
      el.engine = new FakeEngine({
        delayMs: 1,
        info: { contextSize },
        reply: () => ({ tokens: toTokens('one two three four five'), promptTokens: 2 }),
      });
      document.body.append(el);
    }
  });
  for (const id of ['small', 'large']) {
    await p.waitForSelector(`#${id}[state="ready"]`);
    await p.locator(`#${id} textarea`).fill('a b');
    await p.locator(`#${id} textarea`).press('Enter');
    await p.waitForSelector(`#${id}[state="ready"] .stats`);
  }
  expect(await p.locator('#small .stats').innerText()).toContain('context full');
  expect(await p.locator('#large .stats').innerText()).toContain('hit the token limit');
});

test('a file from disk is "Copying the file into browser storage"; only the phase is announced', async () => {
  const p = await chatPage();
  await p.evaluate(() => {
    const el = document.createElement('llm-chat');
    el.loader = (_source, options) => {
      options.onProgress?.({ phase: 'download', bytesDone: 1_000_000, bytesTotal: 4_000_000, rate: 2_000_000, etaSeconds: 1.5 });
      return new Promise(() => undefined);
    };
    el.source = { kind: 'file', file: new File([new Uint8Array(8)], 'mine.gguf'), name: 'mine.gguf' };
    document.body.append(el);
  });
  const panel = p.locator('llm-chat [part~="progress"]');
  await panel.waitFor();
  expect(await panel.locator('.phase').innerText()).toBe('Copying the file into browser storage…');
  // The one live status holds the phase; the numbers that change are hidden from the live region.
  expect(await panel.locator('[role="status"]').innerText()).toBe('Copying the file into browser storage');
  expect(await panel.locator('.progress-detail[aria-hidden="true"]').innerText()).toContain('1.00 MB of 4.00 MB');
  await p.locator('llm-chat').screenshot({ path: join(ARTIFACTS, 'chat-file-copy.png') });
});

test('the demo\'s start does not flash "No model loaded yet." before its first model loads', async () => {
  const context = await suite.newContext({ viewport: { width: 1100, height: 720 } });
  // Every frame from the first: is the idle status visible?
  await context.addInitScript(() => {
    const w = window as unknown as { idleSeen: boolean };
    w.idleSeen = false;
    const sample = () => {
      const status = document.querySelector('lowbit-demo')?.shadowRoot?.querySelector('llm-chat')?.shadowRoot?.querySelector('.status');
      if (status?.textContent?.includes('No model loaded yet.') && getComputedStyle(status).visibility === 'visible') w.idleSeen = true;
      requestAnimationFrame(sample);
    };
    requestAnimationFrame(sample);
  });
  const p = await context.newPage();
  await p.goto(`${suite.server.url}/e2e/pages/demo.html`);
  await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  expect(await p.evaluate(() => (window as unknown as { idleSeen: boolean }).idleSeen)).toBe(false);
});

test('without WebGPU the download warning offers no "Download anyway"', async () => {
  const { page: p } = await suite.openPage('/e2e/pages/demo.html', { viewport: { width: 1100, height: 720 } });
  await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  // As the worker's probe reports it in a browser without WebGPU.
  await p.evaluate(() =>
    Object.assign(document.querySelector('lowbit-demo')!, { probe: { webgpu: false, reason: 'navigator.gpu is undefined' } }),
  );
  await p.locator('select[aria-label="Model"]').selectOption('entry:smollm2-135m-q4km');
  await p.getByRole('button', { name: 'Load', exact: true }).click();
  const banner = p.locator('[role="alertdialog"]');
  await banner.waitFor();
  expect(await banner.innerText()).toContain('WebGPU is not available here');
  expect(await banner.getByRole('button').allInnerTexts()).toEqual(['Cancel']);
});

test('"Preparing GPU kernels" counts kernels, with a moving bar instead of "0% · 0 B of 1 B"', async () => {
  const p = await chatPage();
  await p.evaluate(() => {
    const el = document.createElement('llm-chat');
    el.loader = (_source, options) => {
      options.onProgress?.({ phase: 'compile', bytesDone: 0, bytesTotal: 42 });
      return new Promise(() => undefined);
    };
    el.model = '/models/m.gguf';
    document.body.append(el);
  });
  const panel = p.locator('llm-chat [part~="progress"]');
  await panel.waitFor();
  const text = await panel.innerText();
  expect(text).toContain('Preparing GPU kernels…');
  expect(text).toContain('0 of 42 kernels ready');
  expect(text).not.toMatch(/%|\bB\b/);
  expect(await panel.locator('[role="progressbar"]').getAttribute('aria-valuenow')).toBeNull();
  expect(await panel.locator('.bar.indeterminate').count()).toBe(1);
  await p.locator('llm-chat').screenshot({ path: join(ARTIFACTS, 'chat-preparing-kernels.png') });
});

test('a download cancelled with the cached-models panel open shows there what is stored (10 %), not 0 B', async () => {
  const { page: p } = await suite.openPage('/e2e/pages/demo.html', { viewport: { width: 1100, height: 720 } });
  await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  await p.getByRole('button', { name: 'Cached models' }).click();
  const panel = p.locator('lowbit-model-cache');
  await panel.locator('li').first().waitFor();
  await p.evaluate(() => {
    const chat = document.querySelector('lowbit-demo')!.shadowRoot!.querySelector('llm-chat')!;
    chat.source = { kind: 'url', url: '/models/partial-story.gguf' };
  });
  await p.waitForSelector('llm-chat[state="loading"] [role="progressbar"][aria-valuenow="10"]');
  await p.locator('llm-chat [part~="cancel-button"]').click();
  await p.waitForSelector('llm-chat[state="ready"]');
  const entry = panel.locator('li', { hasText: 'partial-story.gguf' });
  // The store records the cut download's bytes a moment after the cancel: the panel lists it again then.
  await expect.poll(() => entry.innerText(), { timeout: 5_000 }).toContain('209 kB of 2.09 MB (10%, download incomplete)');
  await p.screenshot({ path: join(ARTIFACTS, 'demo-cancelled-download.png') });
});
