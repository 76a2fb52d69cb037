// The remote OpenAI client and RemoteEngine against a scripted server on 127.0.0.1 (Node's fetch):
// the same interface as the local client, and a hostile server's every way of misbehaving ending
// in a typed error, promptly, with the connection closed.
import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { InvalidEndpointError, RemoteProtocolError, RemoteServerError, RemoteTimeoutError } from '../../src/errors.ts';
import { openaiClient, type ChatCompletionChunk } from '../../src/engine/openai.ts';
import { endpointUrl, parseChunk, RemoteEngine, remoteOpenaiClient } from '../../src/engine/remote.ts';
import { FakeEngine, toTokens } from '../ui/fake-engine.ts';
import { chatChunk, sseHeaders, startFakeOpenAIServer, type FakeOpenAIServer } from './fake-openai-server.ts';

let server: FakeOpenAIServer;
beforeAll(async () => {
  server = await startFakeOpenAIServer();
});
afterAll(() => server.close());
afterEach(() => {
  server.handle = server.defaultHandler;
  server.requests.length = 0;
  server.delayMs = 5;
  server.tokens = ['Hello', ' from', ' the', ' remote', ' server', '.'];
});

const messages = [{ role: 'user' as const, content: 'Hi' }];
const client = (options: Partial<Parameters<typeof remoteOpenaiClient>[0]> = {}) =>
  remoteOpenaiClient({ endpoint: server.endpoint, model: 'fake-remote', ...options });

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const out: ChatCompletionChunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

/** Waits until `check` holds (the server notices a disconnect a moment after the client leaves). */
async function until(check: () => boolean, ms = 5000): Promise<void> {
  for (const t0 = Date.now(); !check();) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('remoteOpenaiClient: same interface as openaiClient', () => {
  test('streams chat.completion.chunk objects from <endpoint>/chat/completions, with the request in OpenAI fields', async () => {
    const stream = await client().chat.completions.create({
      messages,
      stream: true,
      max_tokens: 40,
      temperature: 0.2,
      seed: 3,
      stop: ['END'],
    });
    const chunks = await collect(stream);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello from the remote server.');
    expect(chunks[0]).toMatchObject({ object: 'chat.completion.chunk', id: 'chatcmpl-fake', model: 'fake-remote' });
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    const req = server.requests.at(-1)!;
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.body).toMatchObject({
      model: 'fake-remote',
      messages,
      stream: true,
      max_tokens: 40,
      temperature: 0.2,
      seed: 3,
      stop: ['END'],
    });
    expect(req.headers.authorization).toBeUndefined();
  });

  test('the local and the remote client give an application the same shapes', async () => {
    server.tokens = toTokens('there was a cat.');
    const local = openaiClient(new FakeEngine({ delayMs: 0, reply: () => ({ tokens: toTokens('there was a cat.'), promptTokens: 9 }) }));
    for (const c of [local, client()]) {
      const res = await c.chat.completions.create({ messages });
      expect(res).toMatchObject({
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: 'there was a cat.' }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 },
      });
      expect(res.usage.extra.time_to_first_token_s).toBeGreaterThan(0);
      const chunks = await collect(await c.chat.completions.create({ messages, stream: true, stream_options: { include_usage: true } }));
      expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 4 } });
      expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop');
    }
  });

  test('max_tokens cut-off reports length; the request is validated before anything is sent', async () => {
    const res = await client().chat.completions.create({ messages, max_tokens: 2 });
    expect(res.choices[0]!).toMatchObject({ message: { content: 'Hello from' }, finish_reason: 'length' });
    const sent = server.requests.length;
    await expect(client().chat.completions.create({ messages: [], stream: true })).rejects.toThrow(/messages must be a non-empty array/);
    await expect(client().chat.completions.create({ messages, temperature: 9 })).rejects.toThrow(RangeError);
    expect(server.requests.length).toBe(sent);
  });

  test('the api key goes in Authorization: Bearer; the request model wins over the configured one', async () => {
    await client({ apiKey: 'sk-test' }).chat.completions.create({ messages, model: 'other' });
    expect(server.requests.at(-1)!.headers.authorization).toBe('Bearer sk-test');
    expect(server.requests.at(-1)!.body?.model).toBe('other');
    // No model named anywhere: none is sent, and the server answers with its default.
    await remoteOpenaiClient({ endpoint: server.endpoint }).chat.completions.create({ messages });
    expect(server.requests.at(-1)!.body).not.toHaveProperty('model');
    await new RemoteEngine({ endpoint: server.endpoint }).chat(messages).stats;
    expect(server.requests.at(-1)!.body).not.toHaveProperty('model');
  });

  test('a custom fetch is the transport (a same-origin proxy adding the key)', async () => {
    const seen: string[] = [];
    const c = client({
      endpoint: 'http://proxy.invalid/api',
      fetch: (url, init) => {
        seen.push(url);
        return fetch(url.replace('http://proxy.invalid/api', server.endpoint), {
          ...init,
          headers: { ...init.headers, authorization: 'Bearer from-proxy' },
        });
      },
    });
    await c.chat.completions.create({ messages });
    expect(seen).toEqual(['http://proxy.invalid/api/chat/completions']);
    expect(server.requests.at(-1)!.headers.authorization).toBe('Bearer from-proxy');
  });

  test('abort mid-stream: the stream ends with finish_reason abort and the server sees the client leave', async () => {
    server.tokens = Array.from({ length: 200 }, (_, i) => ` t${i}`);
    server.delayMs = 20;
    const disconnects = server.disconnects;
    const controller = new AbortController();
    const stream = await client().chat.completions.create({ messages, stream: true, signal: controller.signal });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) {
      chunks.push(c);
      if (chunks.length === 3) controller.abort();
    }
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('abort');
    expect(chunks.length).toBeLessThan(10);
    await until(() => server.disconnects === disconnects + 1);
  });

  test('a stream sent one byte at a time, with CRLF line ends and multi-byte characters split, reads the same', async () => {
    const text = 'héllo wörld 🙂 — 日本';
    const bytes = Buffer.from(
      [chatChunk(text.slice(0, 9)), chatChunk(text.slice(9)), chatChunk(null, 'stop'), 'data: [DONE]\n\n'].join('').replace(/\n/g, '\r\n'),
    );
    server.handle = async (_, res) => {
      res.writeHead(200, sseHeaders());
      for (const b of bytes) {
        res.write(Buffer.from([b]));
        await new Promise((r) => setTimeout(r, 0));
      }
      res.end();
    };
    const res = await client().chat.completions.create({ messages });
    expect(res.choices[0]!.message.content).toBe(text);
  });

  test('leaving the loop early closes the connection too', async () => {
    server.tokens = Array.from({ length: 200 }, (_, i) => ` t${i}`);
    server.delayMs = 20;
    const disconnects = server.disconnects;
    for await (const c of await client().chat.completions.create({ messages, stream: true })) if (c.choices[0]?.delta.content) break;
    await until(() => server.disconnects === disconnects + 1);
  });
});

describe('a hostile or failing server ends in a typed error', () => {
  const reply =
    (status: number, body: string, type = 'application/json') =>
    (_: unknown, res: ServerResponse) =>
      void res.writeHead(status, { 'content-type': type }).end(body);

  test('HTTP errors with an OpenAI error object: status, type, code and message kept (the message cut to a length)', async () => {
    server.handle = reply(
      401,
      JSON.stringify({ error: { message: 'Invalid API key', type: 'invalid_request_error', code: 'invalid_api_key' } }),
    );
    const e = await client()
      .chat.completions.create({ messages, stream: true })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RemoteServerError);
    expect(e).toMatchObject({ status: 401, errorType: 'invalid_request_error', code: 'invalid_api_key' });
    expect((e as Error).message).toMatch(/HTTP 401: Invalid API key/);
    server.handle = reply(500, JSON.stringify({ error: { message: 'x'.repeat(100_000) } }));
    const long = await client()
      .chat.completions.create({ messages })
      .then(
        () => new Error('resolved'),
        (x: unknown) => x as Error,
      );
    expect(long).toMatchObject({ status: 500 });
    expect(long.message.length).toBeLessThan(700);
  });

  test("vLLM's flat error object, as a status body and mid-stream", async () => {
    const flat = { object: 'error', message: 'The model `x` does not exist.', type: 'NotFoundError', param: null, code: 404 };
    server.handle = reply(404, JSON.stringify(flat));
    await expect(client().chat.completions.create({ messages })).rejects.toMatchObject({
      status: 404,
      errorType: 'NotFoundError',
      code: '404',
      message: expect.stringMatching(/HTTP 404: The model `x` does not exist\./),
    });
    server.handle = (_, res) => void res.writeHead(200, sseHeaders()).end(chatChunk('a') + `data: ${JSON.stringify(flat)}\n\n`);
    await expect(client().chat.completions.create({ messages })).rejects.toMatchObject({
      name: 'RemoteServerError',
      errorType: 'NotFoundError',
    });
  });

  test('an error status without JSON, and a huge error body, still give the status', async () => {
    server.handle = reply(503, '<html>busy</html>', 'text/html');
    await expect(client().chat.completions.create({ messages })).rejects.toMatchObject({ name: 'RemoteServerError', status: 503 });
    server.handle = (_, res) => {
      res.writeHead(429, { 'content-type': 'application/json' });
      res.write('{"error": {"message": "');
      const big = 'y'.repeat(1 << 20);
      const more = () => (res.write(big) ? setImmediate(more) : res.once('drain', more));
      res.on('error', () => undefined);
      more();
    };
    await expect(client().chat.completions.create({ messages })).rejects.toMatchObject({ name: 'RemoteServerError', status: 429 });
  });

  test('an error object in the middle of the stream', async () => {
    server.handle = (_, res) => {
      res.writeHead(200, sseHeaders());
      res.write(chatChunk('Hel'));
      res.end(`data: ${JSON.stringify({ error: { message: 'the model crashed', type: 'server_error' } })}\n\n`);
    };
    const engine = new RemoteEngine({ endpoint: server.endpoint });
    const got: string[] = [];
    const failed = (async () => {
      for await (const t of engine.chat(messages)) got.push(t.text);
    })();
    await expect(failed).rejects.toMatchObject({
      name: 'RemoteServerError',
      errorType: 'server_error',
      message: expect.stringMatching(/the model crashed/),
    });
    expect(got).toEqual(['Hel']);
  });

  test('garbled streams: not JSON, not an object, wrong field types, not an event stream, cut short', async () => {
    const cases: [string, string | undefined, RegExp][] = [
      ['data: {not json}\n\n', undefined, /not JSON/],
      ['data: [1,2]\n\n', undefined, /not a JSON object/],
      ['data: {"choices": "nope"}\n\n', undefined, /without a choices array/],
      [
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 42 } }] })}\n\n`,
        undefined,
        /number as choices\[0\]\.delta\.content/,
      ],
      [`data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'system' } }] })}\n\n`, undefined, /not 'assistant'/],
      [`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: -1, completion_tokens: 2 } })}\n\n`, undefined, /not a count/],
      [chatChunk('a', null), undefined, /ended before the reply did/],
      ['{"choices": []}', 'application/json', /not an event stream/],
    ];
    for (const [body, type, message] of cases) {
      server.handle = (_, res) => void res.writeHead(200, type ? { 'content-type': type } : sseHeaders()).end(body);
      const e = await client()
        .chat.completions.create({ messages })
        .catch((x: unknown) => x);
      expect(e, body).toBeInstanceOf(RemoteProtocolError);
      expect((e as Error).message, body).toMatch(message);
    }
  });

  test('an oversized stream: an endless line, and a reply over the byte budget, are refused and the connection closed', async () => {
    const endless = (piece: string) => (_: unknown, res: ServerResponse) => {
      res.writeHead(200, sseHeaders());
      res.on('error', () => undefined);
      const timer = setInterval(() => res.write(piece), 1);
      res.on('close', () => clearInterval(timer));
    };
    server.handle = endless('x'.repeat(64 * 1024));
    await expect(client().chat.completions.create({ messages })).rejects.toThrow(/longer than 262144 characters/);
    server.handle = endless(chatChunk('spam'.repeat(100)).repeat(50));
    const t0 = Date.now();
    await expect(client({ maxResponseBytes: 1 << 20 }).chat.completions.create({ messages })).rejects.toThrow(/more than 1048576 bytes/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  test('a server that goes silent times out (before the reply, and mid-stream; keep-alive comments do not count)', async () => {
    server.handle = () => undefined; // never answers
    await expect(client({ idleTimeoutMs: 300 }).chat.completions.create({ messages })).rejects.toBeInstanceOf(RemoteTimeoutError);
    server.handle = (_, res) => {
      res.writeHead(200, sseHeaders());
      res.write(chatChunk('Hel'));
      const timer = setInterval(() => res.write(': ping\n\n'), 50);
      res.on('close', () => clearInterval(timer));
    };
    const e = await client({ idleTimeoutMs: 400 })
      .chat.completions.create({ messages })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RemoteTimeoutError);
    expect((e as Error).message).toMatch(/sent nothing for 0.4 s/);
  });

  test('an unreachable server, and a redirect, are RemoteServerErrors naming the endpoint', async () => {
    const closed = await startFakeOpenAIServer();
    await closed.close();
    await expect(remoteOpenaiClient({ endpoint: closed.endpoint }).chat.completions.create({ messages })).rejects.toMatchObject({
      name: 'RemoteServerError',
      status: undefined,
      message: expect.stringContaining(closed.endpoint),
    });
    server.handle = (_, res) => void res.writeHead(302, { location: 'http://127.0.0.1:9/steal' }).end();
    await expect(client({ apiKey: 'sk-secret' }).chat.completions.create({ messages })).rejects.toBeInstanceOf(RemoteServerError);
  });

  test('endpoints that are not http(s) API bases are refused before any request', () => {
    expect(endpointUrl('https://host/v1/')).toBe('https://host/v1');
    expect(endpointUrl('http://127.0.0.1:8080/v1')).toBe('http://127.0.0.1:8080/v1');
    for (const bad of [
      '',
      '  ',
      'not a url',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'data:text/plain,x',
      'https://user:pw@host/v1',
      'https://host/v1?x=1',
      'https://host/v1#x',
    ]) {
      expect(() => remoteOpenaiClient({ endpoint: bad }), bad).toThrow(InvalidEndpointError);
    }
  });

  test('parseChunk keeps only index 0 of a reply, and cuts long ids and model names', () => {
    const chunk = parseChunk(
      JSON.stringify({
        id: 'i'.repeat(10_000),
        model: 'm'.repeat(10_000),
        choices: [
          { index: 1, delta: { content: 'other' } },
          { index: 0, delta: { content: 'mine' } },
        ],
      }),
      'chat',
    );
    expect(chunk.choice?.text).toBe('mine');
    expect(chunk.id!.length).toBeLessThan(300);
    expect(chunk.model!.length).toBeLessThan(300);
    expect(() => parseChunk(JSON.stringify({ choices: new Array(100).fill({ index: 0 }) }), 'chat')).toThrow(/100 choices/);
  });
});

describe('RemoteEngine', () => {
  test('connect() checks /models and takes the first model when none is named; an unlisted name is a warning', async () => {
    server.models = ['served-model', 'other'];
    server.contextLength = 4096;
    const engine = await RemoteEngine.connect({ endpoint: server.endpoint });
    server.contextLength = undefined;
    expect(engine.info).toMatchObject({
      name: 'served-model',
      architecture: 'remote',
      hasChatTemplate: true,
      contextSize: 4096,
      warnings: [],
    });
    expect(server.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/models' });
    const named = await RemoteEngine.connect({ endpoint: server.endpoint, model: 'nope' });
    expect(named.info.name).toBe('nope');
    expect(named.info.warnings![0]).toMatch(/does not list the model "nope"/);
    server.models = ['fake-remote'];
  });

  test('connect() passes a 401 on, and takes a server without /models as it is', async () => {
    server.handle = (_, res) => void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"no key"}}');
    await expect(RemoteEngine.connect({ endpoint: server.endpoint })).rejects.toMatchObject({ status: 401 });
    server.handle = (req, res) => (req.path === '/v1/models' ? void res.writeHead(404).end() : server.defaultHandler(req, res));
    const engine = await RemoteEngine.connect({ endpoint: server.endpoint, model: 'proxied' });
    expect(engine.info.name).toBe('proxied');
  });

  test('chat() streams tokens and reports stats; generate() uses /completions', async () => {
    const engine = new RemoteEngine({ endpoint: server.endpoint, model: 'fake-remote' });
    const stream = engine.chat(messages, { maxTokens: 3, temperature: 0 });
    let text = '';
    for await (const t of stream) text += t.text;
    expect(text).toBe('Hello from the');
    expect(await stream.stats).toMatchObject({ promptTokens: 9, generatedTokens: 3, finishReason: 'length' });
    expect(server.requests.at(-1)!.body).toMatchObject({
      max_tokens: 3,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const story = engine.generate('Once');
    let continued = '';
    for await (const t of story) continued += t.text;
    expect(continued).toBe('Hello from the remote server.');
    expect(server.requests.at(-1)).toMatchObject({ path: '/v1/completions', body: { prompt: 'Once', temperature: 0 } });
  });

  test('abort: the stream ends with finish reason abort, and the server sees the disconnect', async () => {
    server.tokens = Array.from({ length: 200 }, (_, i) => ` t${i}`);
    server.delayMs = 20;
    const disconnects = server.disconnects;
    const controller = new AbortController();
    const engine = new RemoteEngine({ endpoint: server.endpoint });
    const stream = engine.chat(messages, { signal: controller.signal });
    let n = 0;
    for await (const _ of stream) if (++n === 3) controller.abort();
    expect((await stream.stats).finishReason).toBe('abort');
    await until(() => server.disconnects === disconnects + 1);
  });

  test('a reply the server itself aborted (lowbit serve shutting down) ends with finish reason abort', async () => {
    server.handle = (_, res) => void res.writeHead(200, sseHeaders()).end(chatChunk('Hal') + chatChunk(null, 'abort') + 'data: [DONE]\n\n');
    const stream = new RemoteEngine({ endpoint: server.endpoint }).chat(messages);
    for await (const _ of stream);
    expect(await stream.stats).toMatchObject({ finishReason: 'abort', generatedTokens: 1 });
  });

  test('options it cannot send over the API are refused, not dropped', async () => {
    const engine = new RemoteEngine({ endpoint: server.endpoint });
    const consume = async (s: AsyncIterable<unknown>) => {
      for await (const _ of s);
    };
    await expect(consume(engine.chat(messages, { repetitionPenalty: 1.3 }))).rejects.toThrow(/repetitionPenalty/);
    await expect(consume(engine.generate([1, 2, 3]))).rejects.toThrow(/text prompt/);
    await expect(engine.countTokens('x')).rejects.toThrow(/does not count tokens/);
  });
});
