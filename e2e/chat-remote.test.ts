// <llm-chat endpoint> in Chromium against a scripted OpenAI-compatible server on 127.0.0.1 (another
// origin, so through CORS): the reply streams over SSE with no worker started, Stop closes the
// connection (the server sees its client leave), an error status and a garbled or oversized stream
// end in the element's error display, and the api-key attribute and a RemoteEngine with a custom
// fetch reach the server as they should.
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { chatChunk, sseHeaders, startFakeOpenAIServer, type FakeOpenAIServer } from '../test/engine/fake-openai-server.ts';
import { useBrowserSuite } from './harness.ts';

const suite = useBrowserSuite();
let server: FakeOpenAIServer;

beforeAll(async () => {
  server = await startFakeOpenAIServer();
});
afterAll(() => server?.close());
afterEach(() => {
  server.handle = server.defaultHandler;
  server.requests.length = 0;
  server.delayMs = 5;
  server.beforeLastToken = null;
  server.tokens = ['Hello', ' from', ' the', ' remote', ' server', '.'];
});

interface Recorded {
  events: { type: string; detail: unknown }[];
  workers: number;
}

/** Opens the test page, counts Workers started and records the element's events, then mounts <llm-chat> with `attrs`. */
async function mount(attrs: Record<string, string>): Promise<Page> {
  const { page } = await suite.openPage('/e2e/pages/chat.html', { viewport: { width: 800, height: 640 } });
  await page.evaluate((attrs) => {
    const w = window as unknown as { rec: Recorded };
    w.rec = { events: [], workers: 0 };
    const NativeWorker = window.Worker;
    window.Worker = class extends NativeWorker {
      constructor(...args: ConstructorParameters<typeof Worker>) {
        super(...args);
        w.rec.workers++;
      }
    };
    for (const type of ['llm-ready', 'llm-progress', 'llm-token', 'llm-done', 'llm-error']) {
      document.addEventListener(type, (e) => {
        const d = (e as CustomEvent).detail as Record<string, unknown>;
        const error = d.error as Error | undefined;
        w.rec.events.push({
          type,
          detail: error ? { during: d.during, name: error.name, message: error.message } : JSON.parse(JSON.stringify(d)),
        });
      });
    }
    const el = document.createElement('llm-chat');
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    document.body.append(el);
  }, attrs);
  return page;
}

const recorded = (page: Page) => page.evaluate(() => (window as unknown as { rec: Recorded }).rec);

async function send(page: Page, text: string): Promise<void> {
  await page.locator('llm-chat textarea').fill(text);
  await page.locator('llm-chat textarea').press('Enter');
}

test('streams a reply from the server over SSE, with the usual events, and starts no worker', async () => {
  server.delayMs = 40;
  let releaseLastToken = () => {};
  server.beforeLastToken = new Promise((r) => (releaseLastToken = r));
  const page = await mount({ endpoint: server.endpoint, model: 'fake-remote', 'system-prompt': 'Be brief.' });
  await page.waitForSelector('llm-chat[state="ready"]');
  expect(await page.locator('llm-chat [part~="status"]').innerText()).toContain('fake-remote is ready.');
  await send(page, 'Hi there');
  // The reply shows while it streams, not only at the end: the server holds its last token back.
  await page.waitForSelector('llm-chat[state="generating"]');
  await page.locator('llm-chat .msg.assistant .md', { hasText: 'Hello from the remote server' }).waitFor();
  expect(await page.getAttribute('llm-chat', 'state')).toBe('generating');
  expect(await page.locator('llm-chat .msg.assistant .md').innerText()).toBe('Hello from the remote server');
  releaseLastToken();
  await page.waitForSelector('llm-chat[state="ready"] .stats');
  expect(await page.locator('llm-chat .msg.assistant .md').innerText()).toBe('Hello from the remote server.');
  expect(await page.locator('llm-chat .stats').innerText()).toMatch(/tokens\/s · 6 tokens · first token \d+ ms/);

  const rec = await recorded(page);
  expect(rec.workers).toBe(0);
  const types = rec.events.map((e) => e.type);
  expect(types[0]).toBe('llm-ready');
  expect(rec.events[0]!.detail).toMatchObject({
    info: { name: 'fake-remote', architecture: 'remote' },
    source: null,
    endpoint: server.endpoint,
  });
  expect(types.filter((t) => t === 'llm-token')).toHaveLength(6);
  expect(types.at(-1)).toBe('llm-done');
  expect(rec.events.at(-1)!.detail).toMatchObject({
    text: 'Hello from the remote server.',
    stats: { finishReason: 'stop', generatedTokens: 6 },
  });
  // The server got the conversation with the system prompt, and no key.
  const post = server.requests.find((r) => r.method === 'POST')!;
  expect(post.path).toBe('/v1/chat/completions');
  expect(post.body).toMatchObject({
    model: 'fake-remote',
    stream: true,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi there' },
    ],
  });
  expect(post.headers.authorization).toBeUndefined();
});

test('Stop mid-stream: the reply keeps what arrived, says "stopped", and the server sees the client leave', async () => {
  server.tokens = Array.from({ length: 300 }, (_, i) => ` word${i}`);
  server.delayMs = 30;
  const { disconnects, completed } = server;
  const page = await mount({ endpoint: server.endpoint });
  await page.waitForSelector('llm-chat[state="ready"]');
  await send(page, 'Tell me everything');
  await page.locator('llm-chat .msg.assistant .md', { hasText: 'word3' }).waitFor();
  await page.locator('llm-chat [part~="stop-button"]').click();
  await page.waitForSelector('llm-chat[state="ready"] .stats');
  expect(await page.locator('llm-chat .stats').innerText()).toContain('stopped');
  const text = await page.locator('llm-chat .msg.assistant .md').innerText();
  expect(text).toContain('word3');
  expect(text).not.toContain('word299');
  for (let waited = 0; server.disconnects === disconnects && waited < 5000; waited += 50) await page.waitForTimeout(50);
  expect(server.disconnects).toBe(disconnects + 1);
  expect(server.completed).toBe(completed);
  // The element is usable again.
  server.tokens = ['Again', '.'];
  await send(page, 'Once more');
  await page.waitForFunction(() => document.querySelector('llm-chat')!.shadowRoot!.querySelectorAll('.stats').length === 2);
  expect(await page.locator('llm-chat .msg.assistant .md').nth(1).innerText()).toBe('Again.');
});

test('an error status is shown in the reply with the server\u2019s message, and reported as llm-error', async () => {
  const page = await mount({ endpoint: server.endpoint, model: 'fake-remote' });
  await page.waitForSelector('llm-chat[state="ready"]');
  server.handle = (_, res) =>
    void res.writeHead(401, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }).end(
      JSON.stringify({
        error: { message: 'Invalid API key <img src=x onerror=alert(1)>', type: 'invalid_request_error', code: 'invalid_api_key' },
      }),
    );
  await send(page, 'Hi');
  await page.waitForSelector('llm-chat[state="ready"] .msg.assistant [part~="error"]');
  const box = page.locator('llm-chat .msg.assistant [part~="error"]');
  expect(await box.locator('strong').innerText()).toBe('The server refused or failed the request');
  // The server's text is shown as text, never as markup.
  expect(await box.locator('.detail').innerText()).toContain('HTTP 401: Invalid API key <img src=x onerror=alert(1)>');
  expect(await box.locator('img').count()).toBe(0);
  expect(await box.locator('.hint').innerText()).toContain('API key');
  const rec = await recorded(page);
  expect(rec.events.at(-1)).toMatchObject({ type: 'llm-error', detail: { during: 'generate', name: 'RemoteServerError' } });
});

test('a server still loading (503) fails the connect with Retry; Retry connects once it is up', async () => {
  let up = false;
  server.handle = (req, res) =>
    up ? server.defaultHandler(req, res) : void res.writeHead(503, { 'access-control-allow-origin': '*' }).end('loading');
  const page = await mount({ endpoint: server.endpoint });
  await page.waitForSelector('llm-chat[state="error"]');
  const panel = page.locator('llm-chat .panel[part~="error"]');
  expect(await panel.locator('.detail').innerText()).toContain('HTTP 503');
  up = true;
  await page.locator('llm-chat [part~="retry-button"]').click();
  await page.waitForSelector('llm-chat[state="ready"]');
  const rec = await recorded(page);
  expect(rec.events.map((e) => e.type)).toEqual(['llm-error', 'llm-ready']);
});

test('a garbled stream and an oversized one are refused with an error, the page stays responsive and the connection is closed', async () => {
  const page = await mount({ endpoint: server.endpoint, model: 'fake-remote' });
  await page.waitForSelector('llm-chat[state="ready"]');
  server.handle = (_, res) => {
    res.writeHead(200, sseHeaders());
    res.write(chatChunk('Partial'));
    res.end('data: {"choices": [{"delta": {"content": {"__proto__": 1}}}]}\n\n');
  };
  await send(page, 'one');
  await page.waitForSelector('llm-chat[state="ready"] .msg.assistant [part~="error"]');
  const first = page.locator('llm-chat .msg.assistant').nth(0);
  expect(await first.locator('[part~="error"] strong').innerText()).toBe("The server's reply could not be read");
  expect(await first.locator('.md').innerText()).toBe('Partial');

  const disconnects = server.disconnects;
  server.handle = (_, res) => {
    res.writeHead(200, sseHeaders());
    res.on('error', () => undefined);
    // One line that never ends.
    const timer = setInterval(() => res.write('data: ' + 'x'.repeat(32 * 1024)), 2);
    res.on('close', () => {
      clearInterval(timer);
      server.disconnects++;
    });
  };
  await send(page, 'two');
  await page.waitForFunction(
    () => document.querySelector('llm-chat')!.shadowRoot!.querySelectorAll('.msg.assistant [part~="error"]').length === 2,
    null,
    {
      timeout: 30_000,
    },
  );
  const second = page.locator('llm-chat .msg.assistant').nth(1);
  expect(await second.locator('[part~="error"] .detail').innerText()).toMatch(/longer than 262144 characters/);
  for (let waited = 0; server.disconnects === disconnects && waited < 5000; waited += 50) await page.waitForTimeout(50);
  expect(server.disconnects).toBe(disconnects + 1);
  expect(await page.evaluate(() => 1 + 1)).toBe(2);
});

test('api-key goes to the server as a Bearer token; a RemoteEngine with a custom fetch (a proxy adding the key) is the safe route', async () => {
  const page = await mount({ endpoint: server.endpoint, 'api-key': 'sk-visible-in-the-page' });
  await page.waitForSelector('llm-chat[state="ready"]');
  await send(page, 'Hi');
  await page.waitForSelector('llm-chat[state="ready"] .stats');
  expect(server.requests.filter((r) => r.method !== 'OPTIONS').map((r) => r.headers.authorization)).toEqual([
    'Bearer sk-visible-in-the-page',
    'Bearer sk-visible-in-the-page',
  ]);

  server.requests.length = 0;
  const { page: safe } = await suite.openPage('/e2e/pages/chat.html');
  await safe.evaluate((real) => {
    const { RemoteEngine } = window.lowbitTest;
    const el = document.createElement('llm-chat');
    // Stands in for a same-origin proxy: the page names its own path, the proxy adds the key.
    el.engine = new RemoteEngine({
      endpoint: '/llm-proxy/v1',
      model: 'fake-remote',
      fetch: (url, init) =>
        fetch(url.replace(`${location.origin}/llm-proxy/v1`, real), {
          ...init,
          headers: { ...init.headers, authorization: 'Bearer added-by-proxy' },
        }),
    });
    document.body.append(el);
  }, server.endpoint);
  await safe.waitForSelector('llm-chat[state="ready"]');
  expect(await safe.locator('llm-chat').getAttribute('api-key')).toBeNull();
  await safe.locator('llm-chat textarea').fill('Hi');
  await safe.locator('llm-chat textarea').press('Enter');
  await safe.waitForSelector('llm-chat[state="ready"] .stats');
  expect(await safe.locator('llm-chat .msg.assistant .md').innerText()).toBe('Hello from the remote server.');
  expect(server.requests.map((r) => r.headers.authorization)).toEqual(['Bearer added-by-proxy']);
});

test('a bad endpoint attribute is an error the element shows, with no request made', async () => {
  const page = await mount({ endpoint: 'javascript:alert(1)' });
  await page.waitForSelector('llm-chat[state="error"]');
  expect(await page.locator('llm-chat [part~="error"] strong').innerText()).toBe('This server address cannot be used');
  expect(server.requests).toEqual([]);
});

test('endpoint mode reconnects when the key changes, not for local-only settings; clearing the endpoint unloads', async () => {
  const page = await mount({ endpoint: server.endpoint, model: 'fake-remote' });
  await page.waitForSelector('llm-chat[state="ready"]');
  const connects = () => server.requests.filter((r) => r.path === '/v1/models').map((r) => r.headers.authorization ?? 'none');
  expect(connects()).toEqual(['none']);
  await page.evaluate(() => (document.querySelector('llm-chat')!.apiKey = 'sk-second'));
  for (let waited = 0; connects().length < 2 && waited < 5000; waited += 50) await page.waitForTimeout(50);
  await page.waitForSelector('llm-chat[state="ready"]');
  expect(connects()).toEqual(['none', 'Bearer sk-second']);
  // The context size belongs to a model in the page: the server is not asked again.
  await page.evaluate(() => (document.querySelector('llm-chat')!.contextSize = 256));
  await page.waitForTimeout(500);
  expect(connects()).toHaveLength(2);
  // (Without an endpoint, `model` would be a GGUF URL again: clear both.)
  await page.evaluate(() => {
    const el = document.querySelector('llm-chat')!;
    el.removeAttribute('endpoint');
    el.removeAttribute('model');
  });
  await page.waitForSelector('llm-chat[state="idle"]');
  const rec = await recorded(page);
  expect(rec.workers).toBe(0);
});
