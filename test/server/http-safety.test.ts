/**
 * lowbit serve's HTTP layer against hostile and careless clients, over a scripted engine (no GPU):
 * every refusal has OpenAI's error shape and the status the issue asks for.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeServedEngine } from './fake-served-engine.ts';
import { parseResponse, rawExchange, sseEvents, startServer, type Started } from './http-client.ts';
import { toTokens } from '../ui/fake-engine.ts';

const chatBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16, ...extra });

let started: Started[] = [];
async function serve(engine: FakeServedEngine | null, options: Parameters<typeof startServer>[0] = {}): Promise<Started> {
  const s = await startServer(options);
  if (engine) s.server.setEngine(engine);
  started.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(started.map((s) => s.server.shutdown()));
  started = [];
});

async function post(base: string, path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
  return {
    status: res.status,
    headers: res.headers,
    json: (await res.json()) as { error?: { message: string; type: string; param: string | null; code: string } },
  };
}

function expectErrorShape(json: unknown): void {
  expect(json).toEqual({
    error: {
      message: expect.any(String),
      type: expect.any(String),
      param: expect.toBeOneOf([null, expect.any(String)]),
      code: expect.toBeOneOf([null, expect.any(String)]),
    },
  });
}

describe('errors in OpenAI shape with the right status', () => {
  it('malformed JSON is a 400', async () => {
    const { base } = await serve(new FakeServedEngine());
    for (const body of ['{', 'not json', '{"messages": [}', '\u0000']) {
      const r = await post(base, '/v1/chat/completions', body);
      expect(r.status, body).toBe(400);
      expectErrorShape(r.json);
      expect(r.json.error!.code).toBe('invalid_json');
    }
    const empty = await post(base, '/v1/chat/completions', '');
    expect(empty.status).toBe(400);
  });

  it('wrong field types are a 400 naming the field', async () => {
    const { base } = await serve(new FakeServedEngine());
    const cases: [string, Record<string, unknown>, string][] = [
      ['/v1/chat/completions', { messages: 'hi' }, 'messages'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
      ['/v1/chat/completions', { messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }, 'temperature'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: '5' }, 'max_tokens'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_completion_tokens: -1 }, 'max_completion_tokens'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], stream: 'yes' }, 'stream'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: 1 } }, 'stream_options'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], stop: [3] }, 'stop'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], seed: 'abc' }, 'seed'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], top_p: 2 }, 'top_p'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], frequency_penalty: 9 }, 'frequency_penalty'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], model: 7 }, 'model'],
      ['/v1/completions', { prompt: 12 }, 'prompt'],
      ['/v1/completions', { prompt: ['a', 'b'] }, 'prompt'],
      ['/v1/completions', { prompt: [1, -2] }, 'prompt'],
      ['/v1/completions', { prompt: [1, 100000] }, 'prompt'],
      ['/v1/completions', { prompt: 'x', echo: true }, 'echo'],
    ];
    for (const [path, body, param] of cases) {
      const r = await post(base, path, JSON.stringify(body));
      expect(r.status, JSON.stringify(body)).toBe(400);
      expectErrorShape(r.json);
      expect(r.json.error!.param, JSON.stringify(body)).toBe(param);
      expect(r.json.error!.type).toBe('invalid_request_error');
    }
    // Hostile values are quoted short in the message, and never recursed into.
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    for (const [field, value] of [
      ['temperature', deep],
      ['seed', deep],
      ['n', '{"a":' + deep + '}'],
    ]) {
      const r = await post(base, '/v1/chat/completions', `{"messages":[{"role":"user","content":"x"}],"${field}":${value}}`);
      expect(r.status, field).toBe(400);
      expect(r.json.error!.param).toBe(field);
    }
    const longRole = await post(base, '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'x'.repeat(500_000), content: 'x' }] }));
    expect(longRole.status).toBe(400);
    expect(longRole.json.error!.message.length).toBeLessThan(200);
    // A JSON array or scalar is not a request either.
    for (const body of ['[]', '42', 'null']) {
      const r = await post(base, '/v1/chat/completions', body);
      expect(r.status, body).toBe(400);
    }
  });

  it('a prompt that fills the context is a 400 context_length_exceeded, before any slot is taken', async () => {
    const engine = new FakeServedEngine(1, { info: { contextSize: 32 } });
    const { base } = await serve(engine);
    const r = await post(base, '/v1/completions', JSON.stringify({ prompt: 'x'.repeat(40) }));
    expect(r.status).toBe(400);
    expect(r.json.error!.code).toBe('context_length_exceeded');
    expect(engine.slots[0]!.signals).toHaveLength(0);
  });

  it('unknown paths are 404 and wrong methods 405; no path reads a file', async () => {
    const { base, port } = await serve(new FakeServedEngine());
    const paths = [
      '/',
      '/index.html',
      '/package.json',
      '/README.md',
      '/src/server/server.ts',
      '/../package.json',
      '/../../../../etc/passwd',
      '/v1/../package.json',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/v1/%2e%2e/%2e%2e/package.json',
      '/v1/models/../../package.json',
      '//etc/passwd',
      '/health/../package.json',
      '/v1/chat/completions/../../../package.json',
      '/static/..%2f..%2fpackage.json',
    ];
    for (const path of paths) {
      // Raw bytes: fetch would normalise the dots away before they reach the server.
      const { text } = await rawExchange(port, [`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`]);
      const r = parseResponse(text);
      expect(r.status, path).toBe(404);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expectErrorShape(JSON.parse(r.body));
      expect(r.body).not.toMatch(/"name":\s*"lowbit"|root:/);
    }
    const wrong = await fetch(base + '/v1/chat/completions');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('503 while the model loads, 200 once it is ready; /health says which', async () => {
    const s = await serve(null);
    let h = await fetch(s.base + '/health');
    expect(h.status).toBe(503);
    expect(await h.json()).toEqual({ status: 'loading' });
    const r = await post(s.base, '/v1/chat/completions', chatBody());
    expect(r.status).toBe(503);
    expectErrorShape(r.json);
    expect((await fetch(s.base + '/v1/models')).status).toBe(503);
    s.server.setEngine(new FakeServedEngine(2, { delayMs: 0 }));
    h = await fetch(s.base + '/health');
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ready', slots: { total: 2, busy: 0, queued: 0 } });
    expect((await post(s.base, '/v1/chat/completions', chatBody())).status).toBe(200);
  });

  it('a failed load or a lost device turns /health to error and requests to 503', async () => {
    const s = await serve(null);
    s.server.setError(new Error('GGUF header is corrupt'));
    const h = await fetch(s.base + '/health');
    expect(h.status).toBe(503);
    expect(await h.json()).toEqual({ status: 'error', error: 'GGUF header is corrupt' });
    const r = await post(s.base, '/v1/chat/completions', chatBody());
    expect(r.status).toBe(503);
    expect(r.json.error!.message).toMatch(/corrupt/);

    const engine = new FakeServedEngine(1, { delayMs: 0 });
    const t = await serve(engine);
    expect((await fetch(t.base + '/health')).status).toBe(200);
    engine.slots[0]!.engine.loseDevice(new Error('device lost'));
    await expect.poll(async () => ((await (await fetch(t.base + '/health')).json()) as { status: string }).status).toBe('error');
    expect((await post(t.base, '/v1/chat/completions', chatBody())).status).toBe(503);
  });

  it('an unexpected engine error is a 500 that does not leak its message; a stream gets an error event', async () => {
    const engine = new FakeServedEngine(1, {
      delayMs: 0,
      reply: () => ({ tokens: ['a', 'b', 'c'], failAfter: 1, error: new Error('secret /home/path') }),
    });
    const { base } = await serve(engine);
    const r = await post(base, '/v1/chat/completions', chatBody());
    expect(r.status).toBe(500);
    expectErrorShape(r.json);
    expect(r.json.error!.message).not.toMatch(/secret/);
    const s = await fetch(base + '/v1/chat/completions', { method: 'POST', body: chatBody({ stream: true }) });
    expect(s.status).toBe(200);
    const events = sseEvents(await s.text());
    const last = JSON.parse(events.at(-1)!) as { error: { type: string; message: string } };
    expect(last.error.type).toBe('server_error');
    expect(last.error.message).not.toMatch(/secret/);
    expect(events).not.toContain('[DONE]');
  });
});

describe('safe defaults', () => {
  it('--api-key: /v1 needs Authorization: Bearer with the key (401 otherwise); /health does not', async () => {
    const { base } = await serve(new FakeServedEngine(1, { delayMs: 0 }), { apiKey: 'sk-local-123' });
    for (const auth of [
      undefined,
      'sk-local-123',
      'Bearer wrong',
      'Bearer sk-local-1234',
      'Bearer ',
      'Basic c2stbG9jYWwtMTIz',
      'bearer sk-local-123',
    ]) {
      const headers: Record<string, string> = auth === undefined ? {} : { Authorization: auth };
      const r = await post(base, '/v1/chat/completions', chatBody(), headers);
      expect(r.status, String(auth)).toBe(401);
      expect(r.json.error!.type).toBe('authentication_error');
      expect((await fetch(base + '/v1/models', { headers })).status).toBe(401);
    }
    expect((await post(base, '/v1/chat/completions', chatBody(), { Authorization: 'Bearer sk-local-123' })).status).toBe(200);
    expect((await fetch(base + '/v1/models', { headers: { Authorization: 'Bearer sk-local-123' } })).status).toBe(200);
    expect((await fetch(base + '/health')).status).toBe(200);
  });

  it('CORS: only listed origins get the headers (preflight too); any other origin is refused', async () => {
    const { base } = await serve(new FakeServedEngine(1, { delayMs: 0 }), { corsOrigins: ['https://app.example'] });
    const ok = await post(base, '/v1/chat/completions', chatBody(), { Origin: 'https://app.example' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('vary')).toBe('Origin');
    for (const origin of ['https://evil.example', 'https://app.example.evil.com', 'http://app.example', 'null']) {
      const bad = await post(base, '/v1/chat/completions', chatBody(), { Origin: origin });
      expect(bad.status, origin).toBe(403);
      expect(bad.headers.get('access-control-allow-origin')).toBeNull();
      const pre = await fetch(base + '/v1/chat/completions', {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type, authorization',
        },
      });
      expect(pre.status).toBe(403);
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    }
    const pre = await fetch(base + '/v1/chat/completions', {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type, authorization, x-stainless-os',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(pre.headers.get('access-control-allow-headers')).toBe('content-type, authorization, x-stainless-os');
    // No origin listed: no page may call the server.
    const closed = await serve(new FakeServedEngine(1, { delayMs: 0 }));
    expect((await post(closed.base, '/v1/chat/completions', chatBody(), { Origin: 'https://app.example' })).status).toBe(403);
    expect((await post(closed.base, '/v1/chat/completions', chatBody())).status).toBe(200);
  });

  it('bodies over 1 MiB are a 413, declared or streamed', async () => {
    // A context large enough for a prompt of nearly 1 MiB (one fake token per character).
    const engine = new FakeServedEngine(1, { delayMs: 0, info: { contextSize: 2 * 1024 * 1024 } });
    const { base, port } = await serve(engine);
    const big = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024) }] });
    const r = await post(base, '/v1/chat/completions', big);
    expect(r.status).toBe(413);
    expectErrorShape(r.json);
    // Chunked, with no Content-Length to refuse it up front: counted as it arrives.
    const chunk = 'y'.repeat(64 * 1024);
    const parts = [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      ...Array.from({ length: 20 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`),
    ];
    const { text } = await rawExchange(port, parts, { waitMs: 5000 });
    expect(parseResponse(text).status).toBe(413);
    expect(engine.slots[0]!.signals).toHaveLength(0);
    // Just under the limit is read and answered.
    const fits = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024 - 100) }], max_tokens: 1 });
    expect((await post(base, '/v1/chat/completions', fits)).status).toBe(200);
  });

  it('a slowloris client dribbling headers or a body is cut off by the timeouts', async () => {
    const { port } = await serve(new FakeServedEngine(1, { delayMs: 0 }), { headersTimeoutMs: 400, requestTimeoutMs: 800 });
    // Connecting and sending nothing at all is no way around it.
    const silent = await rawExchange(port, [], { waitMs: 6000 });
    expect(silent.closedByServer).toBe(true);
    expect(silent.elapsedMs).toBeLessThan(3000);
    const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n';
    const dribbledHeaders = [...head].concat(Array.from({ length: 200 }, () => 'X-a: b\r\n'));
    const h = await rawExchange(port, dribbledHeaders, { gapMs: 20, waitMs: 6000 });
    expect(h.closedByServer).toBe(true);
    expect(h.elapsedMs).toBeLessThan(3000);
    const body = chatBody();
    const dribbledBody = [`${head}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, ...body];
    const b = await rawExchange(port, dribbledBody, { gapMs: 50, waitMs: 6000 });
    expect(b.closedByServer).toBe(true);
    expect(b.elapsedMs).toBeLessThan(3000);
    if (b.text) expect(parseResponse(b.text).status).toBe(408);
  });

  it('loopbackHostsOnly: a request naming another host (DNS rebinding) is refused', async () => {
    const { port } = await serve(new FakeServedEngine(1, { delayMs: 0 }), { loopbackHostsOnly: true });
    const get = async (host: string) =>
      parseResponse((await rawExchange(port, [`GET /health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`])).text).status;
    for (const host of [
      'evil.example',
      'evil.example:' + port,
      '127.0.0.1.evil.example',
      'localhost.evil.example',
      '[::2]',
      '128.0.0.1',
      '127.0.0.256',
    ]) {
      expect(await get(host), host).toBe(403);
    }
    for (const host of ['127.0.0.1:' + port, 'localhost:' + port, 'LOCALHOST', '[::1]:' + port, '127.1.2.3']) {
      expect(await get(host), host).toBe(200);
    }
    const open = await serve(new FakeServedEngine(1, { delayMs: 0 }));
    const r = parseResponse(
      (await rawExchange(open.port, ['GET /health HTTP/1.1\r\nHost: my-server.lan\r\nConnection: close\r\n\r\n'])).text,
    );
    expect(r.status).toBe(200);
  });

  it('connections past the cap are closed at once', async () => {
    const { port, base } = await serve(new FakeServedEngine(1, { delayMs: 0 }), { maxConnections: 3 });
    const held = [0, 1, 2].map(() => rawExchange(port, ['GET /health HTTP/1.1\r\n'], { waitMs: 1500 }));
    await new Promise((r) => setTimeout(r, 200));
    const extra = await rawExchange(port, ['GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'], { waitMs: 4000 });
    expect(extra.closedByServer).toBe(true);
    expect(extra.text).toBe('');
    await Promise.all(held);
    expect((await fetch(base + '/health')).status).toBe(200);
  });

  it('max_tokens above the context is capped by the engine rather than refused', async () => {
    const engine = new FakeServedEngine(1, { delayMs: 0 });
    const { base } = await serve(engine);
    const r = await post(base, '/v1/chat/completions', chatBody({ max_tokens: 10_000_000 }));
    expect(r.status).toBe(200);
    expect(engine.slots[0]!.engine.calls[0]!.options.maxTokens).toBe(10_000_000);
  });
});

describe('slots and the queue', () => {
  it('requests beyond the slots wait in the queue; past it, 429 with Retry-After', async () => {
    const engine = new FakeServedEngine(1, { delayMs: 30, reply: () => ({ tokens: toTokens('a b c d e f g h') }) });
    const { base } = await serve(engine, { maxQueue: 1 });
    const first = post(base, '/v1/chat/completions', chatBody());
    await new Promise((r) => setTimeout(r, 50));
    const second = post(base, '/v1/chat/completions', chatBody());
    await new Promise((r) => setTimeout(r, 50));
    const third = await post(base, '/v1/chat/completions', chatBody());
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(third.json.error!.type).toBe('rate_limit_error');
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
  });

  it('a client that disconnects aborts its generation and frees its slot', async () => {
    const engine = new FakeServedEngine(1, { delayMs: 20, reply: () => ({ tokens: toTokens('a '.repeat(500)) }) });
    const { base } = await serve(engine);
    const controller = new AbortController();
    const res = await fetch(base + '/v1/chat/completions', {
      method: 'POST',
      body: chatBody({ stream: true, max_tokens: 500 }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await expect.poll(() => engine.slots[0]!.signals[0]?.aborted, { timeout: 5000 }).toBe(true);
    await expect.poll(() => engine.slots[0]!.running, { timeout: 5000 }).toBe(0);
    const health = (await (await fetch(base + '/health')).json()) as { slots: { busy: number } };
    expect(health.slots.busy).toBe(0);
    // The slot serves the next request.
    expect((await post(base, '/v1/chat/completions', chatBody({ max_tokens: 2 }))).status).toBe(200);
  });

  it('a request that leaves while queued is dropped from the queue', async () => {
    const engine = new FakeServedEngine(1, { delayMs: 20, reply: () => ({ tokens: toTokens('a '.repeat(30)) }) });
    const { base } = await serve(engine, { maxQueue: 1 });
    const first = post(base, '/v1/chat/completions', chatBody({ max_tokens: 30 }));
    await new Promise((r) => setTimeout(r, 50));
    const controller = new AbortController();
    const queued = fetch(base + '/v1/chat/completions', { method: 'POST', body: chatBody(), signal: controller.signal }).catch(
      () => 'aborted',
    );
    await expect.poll(async () => ((await (await fetch(base + '/health')).json()) as { slots: { queued: number } }).slots.queued).toBe(1);
    controller.abort();
    expect(await queued).toBe('aborted');
    await expect.poll(async () => ((await (await fetch(base + '/health')).json()) as { slots: { queued: number } }).slots.queued).toBe(0);
    expect((await first).status).toBe(200);
    expect(engine.slots[0]!.signals).toHaveLength(1);
  });

  it('shutdown does not wait for a client that never finishes its request', async () => {
    const s = await startServer();
    s.server.setEngine(new FakeServedEngine(1, { delayMs: 0 }));
    const stalled = rawExchange(s.port, ['POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n'], { waitMs: 20_000 });
    const halfBody = rawExchange(
      s.port,
      [
        'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"messages":',
      ],
      { waitMs: 20_000 },
    );
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    await s.server.shutdown();
    expect(performance.now() - t0).toBeLessThan(5000);
    expect((await stalled).closedByServer).toBe(true);
    expect((await halfBody).closedByServer).toBe(true);
  });

  it('shutdown aborts running generations, ends their replies and refuses queued ones', async () => {
    const engine = new FakeServedEngine(1, { delayMs: 20, reply: () => ({ tokens: toTokens('a '.repeat(500)) }) });
    const s = await startServer({ maxQueue: 2 });
    s.server.setEngine(engine);
    const streaming = fetch(s.base + '/v1/chat/completions', { method: 'POST', body: chatBody({ stream: true, max_tokens: 500 }) });
    await new Promise((r) => setTimeout(r, 100));
    const queued = post(s.base, '/v1/chat/completions', chatBody());
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await s.server.shutdown();
    expect(performance.now() - t0).toBeLessThan(3000);
    const events = sseEvents(await (await streaming).text());
    expect(events.at(-1)).toBe('[DONE]');
    expect(JSON.parse(events.at(-2)!).choices[0].finish_reason).toBe('abort');
    expect((await queued).status).toBe(503);
  });
});
