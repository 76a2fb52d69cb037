// The demo's "Remote server…" entry: the picker opens a form (URL, model, key), <llm-chat> then
// streams from a scripted OpenAI-compatible server, the key stays in memory only, and a catalogue
// model runs in the page again after. Then the same path in the real app under its
// Content-Security-Policy, which must let the user's server through and nothing more than it says.
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { startFakeOpenAIServer, type FakeOpenAIServer } from '../test/engine/fake-openai-server.ts';
import { askDemo, waitForLoadedModel } from './demo-helpers.ts';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const suite = useBrowserSuite();
let server: FakeOpenAIServer;

beforeAll(async () => {
  server = await startFakeOpenAIServer();
});
afterAll(() => server?.close());
afterEach(() => {
  server.requests.length = 0;
});

const picker = (p: Page) => p.locator('select[aria-label="Model"]');
const form = (p: Page) => p.locator('form[aria-label="Remote server"]');

/** Picks "Remote server…", fills the form and connects. */
async function connect(p: Page, fields: { endpoint: string; model?: string; apiKey?: string }): Promise<void> {
  await picker(p).selectOption('remote');
  await form(p).waitFor();
  await form(p).locator('input[name="endpoint"]').fill(fields.endpoint);
  await form(p)
    .locator('input[name="model"]')
    .fill(fields.model ?? '');
  await form(p)
    .locator('input[name="api-key"]')
    .fill(fields.apiKey ?? '');
  await form(p).locator('button[type="submit"]').click();
}

test('"Remote server…": connect with a key kept in memory only, chat, then back to a model in the page', async () => {
  const context = await suite.newContext({ viewport: { width: 1100, height: 720 } });
  const p = await context.newPage();
  await p.goto(`${suite.server.url}/e2e/pages/demo.html`);
  await waitForLoadedModel(p, 'tinystories-llama-3M-Q4_K_M.gguf');
  expect(await picker(p).locator('option[value="remote"]').innerText()).toBe('Remote server…');

  // The form takes the focus; a URL that is not an http(s) API base is refused there, with no request.
  await picker(p).selectOption('remote');
  await form(p).waitFor();
  expect(await p.evaluate(() => document.querySelector('lowbit-demo')!.shadowRoot!.activeElement?.getAttribute('name'))).toBe('endpoint');
  await form(p).locator('input[name="endpoint"]').fill('https://user:pw@host/v1');
  await form(p).locator('button[type="submit"]').click();
  expect(await form(p).locator('.problem').innerText()).toContain('user name or password');
  await p.screenshot({ path: join(ARTIFACTS, 'demo-remote-form.png') });
  // Escape closes it: the picker shows the model that runs.
  await p.keyboard.press('Escape');
  await form(p).waitFor({ state: 'detached' });
  expect(await picker(p).inputValue()).toBe('entry:tinystories-3m');
  expect(server.requests).toEqual([]);

  await connect(p, { endpoint: server.endpoint, apiKey: 'sk-memory-only' });
  await waitForLoadedModel(p, 'OpenAI-compatible server at');
  await p.waitForSelector('llm-chat[state="ready"]');
  expect(await picker(p).locator('option[value="remote"]').innerText()).toBe(`Remote: fake-remote · ${new URL(server.endpoint).host}`);
  expect(await picker(p).inputValue()).toBe('remote');
  // A new model, a new conversation; the reply comes from the server, which got the key.
  expect(await askDemo(p, 'Hi', 1)).toBe('Hello from the remote server.');
  await p.screenshot({ path: join(ARTIFACTS, 'demo-remote-chat.png') });
  expect(server.requests.map((r) => `${r.method} ${r.path} ${r.headers.authorization}`)).toEqual([
    'GET /v1/models Bearer sk-memory-only',
    'POST /v1/chat/completions Bearer sk-memory-only',
  ]);
  // The URL is remembered to fill the form in next time; the key is nowhere but in memory.
  const kept = await p.evaluate(() => ({
    storage: JSON.stringify({ ...localStorage }),
    remote: localStorage.getItem('lowbit.remoteServer'),
    attribute: document.querySelector('lowbit-demo')!.shadowRoot!.querySelector('llm-chat')!.getAttribute('api-key'),
  }));
  expect(JSON.parse(kept.remote!)).toEqual({ endpoint: server.endpoint, model: '' });
  expect(kept.storage).not.toContain('sk-memory-only');
  expect(kept.attribute).toBeNull();

  // Back to the bundled model: it runs in the page (the fake worker) and the server hears no more.
  await picker(p).selectOption('entry:tinystories-3m');
  await p.locator('header button.primary', { hasText: 'Load' }).click();
  await waitForLoadedModel(p, 'tinystories-llama-3M-Q4_K_M.gguf');
  expect(await picker(p).locator('option[value="remote"]').innerText()).toBe('Remote server…');
  const requests = server.requests.length;
  await p.locator('[aria-label="Story openings"] button').first().click();
  await p.waitForSelector('llm-chat .msg.assistant .stats');
  expect(server.requests.length).toBe(requests);

  // The form comes back filled in, without the key.
  await picker(p).selectOption('remote');
  expect(await form(p).locator('input[name="endpoint"]').inputValue()).toBe(server.endpoint);
});

test('a server that refuses the connection shows the error, and going back keeps the model that runs', async () => {
  const context = await suite.newContext({ viewport: { width: 1100, height: 720 } });
  const p = await context.newPage();
  await p.goto(`${suite.server.url}/e2e/pages/demo.html`);
  await waitForLoadedModel(p, 'tinystories-llama-3M-Q4_K_M.gguf');
  server.handle = (_, res) =>
    void res
      .writeHead(401, { 'content-type': 'application/json', 'access-control-allow-origin': '*' })
      .end('{"error":{"message":"bad key"}}');
  try {
    await connect(p, { endpoint: server.endpoint, apiKey: 'wrong' });
    await p.waitForSelector('llm-chat[state="error"]');
    expect(await p.locator('llm-chat .panel[part~="error"] .detail').innerText()).toContain('HTTP 401: bad key');
    expect(await picker(p).inputValue()).toBe('entry:tinystories-3m');
    await p.locator('llm-chat [part~="back-button"]').click();
    await p.waitForSelector('llm-chat[state="ready"]');
    expect(await p.locator('[aria-label="Model details"]').innerText()).toContain('tinystories-llama-3M-Q4_K_M.gguf');
  } finally {
    server.handle = server.defaultHandler;
  }
});

test('the real app under its CSP: a server on https or localhost is reachable, other plain-http hosts stay blocked', async () => {
  const context = await suite.newContext({ viewport: { width: 1100, height: 720 }, serviceWorkers: 'block' });
  const p = await context.newPage();
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(e.message));
  await p.addInitScript(() => {
    const w = window as unknown as { violations: string[] };
    w.violations = [];
    document.addEventListener('securitypolicyviolation', (e) => w.violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  await p.goto(`${suite.server.url}/`);
  await picker(p).waitFor();
  const csp = await p.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(csp).toMatch(
    /connect-src 'self' https:\/\/huggingface\.co https:\/\/\*\.huggingface\.co https:\/\/\*\.hf\.co https: http:\/\/localhost:\*;/,
  );

  // The same scripted server, named as localhost: the policy lets it through.
  const local = server.endpoint.replace('127.0.0.1', 'localhost');
  await connect(p, { endpoint: local });
  await waitForLoadedModel(p, 'OpenAI-compatible server at', 60_000);
  expect(await askDemo(p, 'Hi', 1)).toBe('Hello from the remote server.');
  expect(await p.evaluate(() => (window as unknown as { violations: string[] }).violations)).toEqual([]);

  // The same server by IP over plain http is another host: still blocked, and the element says so.
  const before = server.requests.length;
  await connect(p, { endpoint: server.endpoint });
  await p.waitForSelector('llm-chat[state="error"]');
  expect(await p.locator('llm-chat .panel[part~="error"] strong').innerText()).toBe('The server refused or failed the request');
  expect(await p.evaluate(() => (window as unknown as { violations: string[] }).violations)).toEqual([
    `connect-src ${server.endpoint}/models`,
  ]);
  expect(server.requests.length).toBe(before);
  expect(errors).toEqual([]);
});

test('a choice made while the store is still being listed is not overridden by the first automatic load', async () => {
  const context = await suite.newContext({ viewport: { width: 1100, height: 720 } });
  const p = await context.newPage();
  // Holds the page's first store listing back, as a slow IndexedDB does on a busy device.
  await p.addInitScript(() => {
    const w = window as unknown as { listingsAnswered: number };
    w.listingsAnswered = 0;
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, message: unknown, options?: StructuredSerializeOptions) {
      if ((message as { type?: string } | null)?.type !== 'listModels') return post.call(this, message, options);
      this.addEventListener('message', function answered(e) {
        if ((e.data as { id?: unknown }).id !== (message as { id?: unknown }).id) return;
        w.listingsAnswered++;
        this.removeEventListener('message', answered);
      });
      setTimeout(() => post.call(this, message, options), 1500);
    } as typeof Worker.prototype.postMessage;
  });
  await p.goto(`${suite.server.url}/e2e/pages/demo.html`);
  await picker(p).selectOption('remote');
  await form(p).waitFor();
  await p.waitForFunction(() => (window as unknown as { listingsAnswered: number }).listingsAnswered > 0);
  // The app's start-up ran after the listing: it must leave the user's choice alone.
  await p.evaluate(() => new Promise((r) => setTimeout(r, 500)));
  expect(await form(p).isVisible()).toBe(true);
  expect(await picker(p).inputValue()).toBe('remote');
  expect(await p.getAttribute('llm-chat', 'state')).not.toBe('loading');
  await context.close();
});
