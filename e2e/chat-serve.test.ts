// <llm-chat endpoint> in Chromium against a real `lowbit serve` (bin/lowbit.js as a child process on
// a fixture model, another origin, so through its CORS allow-list): the reply streams and equals
// what the server answers the same request without streaming, and Stop closes the stream while the
// server frees the slot and answers the next request.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { localModel, repoRoot } from '../test/helpers/fixtures.ts';
import { useBrowserSuite } from './harness.ts';

const suite = useBrowserSuite();
let child: ChildProcess;
let endpoint: string;

beforeAll(async () => {
  const pageOrigin = new URL(suite.server.url).origin;
  const args = ['serve', localModel('stories260K-Q8_0.gguf'), '--port', '0', '--ctx', '256', '--cors-origin', pageOrigin];
  child = spawn(process.execPath, [join(repoRoot, 'bin/lowbit.js'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 90_000;
  while (!/lowbit serve: ready/.test(stderr)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`lowbit serve did not get ready:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const [, host, port] = /listening on http:\/\/([^\s]+):(\d+)/.exec(stderr)!;
  endpoint = `http://${host}:${port}/v1`;
}, 120_000);

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

async function mount(attrs: Record<string, string>): Promise<Page> {
  const { page } = await suite.openPage('/e2e/pages/chat.html', { viewport: { width: 800, height: 640 } });
  await page.evaluate((attrs) => {
    const el = document.createElement('llm-chat');
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    document.body.append(el);
  }, attrs);
  await page.waitForSelector('llm-chat[state="ready"]');
  return page;
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator('llm-chat textarea').fill(text);
  await page.locator('llm-chat textarea').press('Enter');
}

test('streams a greedy reply from lowbit serve that starts as the server’s non-streamed answer does', async () => {
  const page = await mount({ endpoint, temperature: '0', 'max-tokens': '24' });
  await send(page, 'Once upon a time');
  await page.waitForSelector('llm-chat[state="generating"]');
  await page.waitForSelector('llm-chat[state="ready"] .stats');
  const shown = await page.locator('llm-chat .msg.assistant .md').innerText();
  const res = await fetch(`${endpoint}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 24 }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  const expected = body.choices[0]!.message.content;
  expect(expected.trim().length).toBeGreaterThan(0);
  // The same greedy request again reuses the slot's cached prompt, so its last prompt token runs
  // through the decode kernels (int8 activations where the device has them) instead of the
  // prefill GEMM, and a near-tie of this tiny model can flip a later token. The first words come
  // from the same state and must agree.
  const firstWords = (t: string) => t.trim().split(/\s+/).slice(0, 3).join(' ');
  expect(shown.trim().length).toBeGreaterThan(0);
  expect(firstWords(shown)).toBe(firstWords(expected));
  expect(await page.locator('llm-chat .stats').innerText()).toMatch(/tokens\/s · \d+ tokens/);
});

test('Stop mid-stream ends the reply, and the server frees the slot for the next request', async () => {
  const page = await mount({ endpoint, temperature: '0.8', 'max-tokens': '200' });
  await send(page, 'Tell me a long story');
  await page.waitForSelector('llm-chat[state="generating"]');
  await page.waitForFunction(() => {
    const md = document.querySelector('llm-chat')!.shadowRoot!.querySelector('.msg.assistant .md');
    return (md?.textContent ?? '').trim().split(/\s+/).length >= 3;
  });
  await page.locator('llm-chat [part~="stop-button"]').click();
  await page.waitForSelector('llm-chat[state="ready"] .stats');
  expect(await page.locator('llm-chat .stats').innerText()).toContain('stopped');
  // The server saw the client leave: its only slot (the default) is free again, long before the
  // 200 tokens the stopped reply asked for could have been generated.
  const healthUrl = endpoint.replace(/\/v1$/, '/health');
  let health = { status: '', slots: { busy: -1, queued: -1 } };
  for (let waited = 0; waited < 5000; waited += 100) {
    health = (await (await fetch(healthUrl)).json()) as typeof health;
    if (health.slots.busy === 0) break;
    await page.waitForTimeout(100);
  }
  expect(health).toMatchObject({ status: 'ready', slots: { busy: 0, queued: 0 } });
  await send(page, 'Once upon a time');
  await page.waitForFunction(() => document.querySelector('llm-chat')!.shadowRoot!.querySelectorAll('.stats').length === 2, undefined, {
    timeout: 60_000,
  });
  expect((await page.locator('llm-chat .msg.assistant .md').nth(1).innerText()).trim().length).toBeGreaterThan(0);
});
