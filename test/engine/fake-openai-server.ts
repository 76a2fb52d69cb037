/**
 * A scripted OpenAI-compatible server on 127.0.0.1 for the remote client's tests (Node and
 * Playwright): GET /v1/models, and POST /v1/chat/completions and /v1/completions streamed as SSE
 * ending in `data: [DONE]`, one chunk per token with a delay. It allows CORS from any origin (a
 * browser page on another port calls it), records every request, and counts the replies whose
 * client left before the end. Tests replace `handle` to send errors or garbage.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown> | null;
}

export type Handler = (req: RecordedRequest, res: ServerResponse) => void | Promise<void>;

export interface FakeOpenAIServer {
  /** The API base, http://127.0.0.1:PORT/v1. */
  endpoint: string;
  requests: RecordedRequest[];
  /** Streamed replies whose client disconnected before the server finished them. */
  disconnects: number;
  /** Streamed replies the server finished. */
  completed: number;
  /** The tokens of the default reply, and the delay between them. */
  tokens: string[];
  delayMs: number;
  /** When set, the default reply waits for it before sending its last token (a test's view of a reply mid-stream). */
  beforeLastToken: Promise<void> | null;
  models: string[];
  /** Sent as each model's context_length in /v1/models (as lowbit serve does), when set. */
  contextLength?: number;
  /** What answers a request (default: defaultHandler); reassign per test. */
  handle: Handler;
  readonly defaultHandler: Handler;
  close(): Promise<void>;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
};

export function sseHeaders(): Record<string, string> {
  return { ...CORS, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
}

export function chatChunk(content: string | null, finish: string | null = null, extra: Record<string, unknown> = {}): string {
  const delta = content === null ? {} : { content };
  return `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model: 'fake-remote', choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
}

export async function startFakeOpenAIServer(): Promise<FakeOpenAIServer> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const fake: FakeOpenAIServer = {
    endpoint: '',
    requests: [],
    disconnects: 0,
    completed: 0,
    tokens: ['Hello', ' from', ' the', ' remote', ' server', '.'],
    delayMs: 5,
    beforeLastToken: null,
    models: ['fake-remote'],
    handle: async (req, res) => defaultHandler(req, res),
    defaultHandler: async (req, res) => defaultHandler(req, res),
    close: async () => undefined,
  };

  async function defaultHandler(req: RecordedRequest, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.path === '/v1/models') {
      res.writeHead(200, { ...CORS, 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: fake.models.map((id) => ({ id, object: 'model', owned_by: 'test', context_length: fake.contextLength })),
        }),
      );
      return;
    }
    const chat = req.path === '/v1/chat/completions';
    if (req.method !== 'POST' || (!chat && req.path !== '/v1/completions')) {
      res.writeHead(404, { ...CORS, 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route ${req.path}`, type: 'invalid_request_error', code: 'not_found' } }));
      return;
    }
    res.writeHead(200, sseHeaders());
    let left = false;
    res.on('close', () => {
      if (!res.writableFinished) left = true;
    });
    const maxTokens = typeof req.body?.max_tokens === 'number' ? req.body.max_tokens : Infinity;
    const tokens = fake.tokens.slice(0, maxTokens);
    const piece = (content: string | null, finish: string | null) =>
      chat
        ? chatChunk(content, finish)
        : `data: ${JSON.stringify({ id: 'cmpl-fake', object: 'text_completion', created: 1, model: 'fake-remote', choices: [{ index: 0, text: content ?? '', finish_reason: finish }] })}\n\n`;
    if (chat)
      res.write(
        `data: ${JSON.stringify({ id: 'chatcmpl-fake', model: 'fake-remote', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`,
      );
    for (const [i, t] of tokens.entries()) {
      await sleep(fake.delayMs);
      if (i === tokens.length - 1 && fake.beforeLastToken) await fake.beforeLastToken;
      if (left) {
        fake.disconnects++;
        return;
      }
      res.write(piece(t, null));
    }
    res.write(piece(null, tokens.length < fake.tokens.length ? 'length' : 'stop'));
    const usage = { prompt_tokens: 9, completion_tokens: tokens.length, total_tokens: 9 + tokens.length };
    res.write(`data: ${JSON.stringify({ id: 'chatcmpl-fake', model: 'fake-remote', choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
    fake.completed++;
  }

  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS).end();
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      let body: Record<string, unknown> | null;
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : null;
      } catch {
        body = null;
      }
      const recorded = { method: req.method ?? '', path: new URL(req.url ?? '/', 'http://x').pathname, headers: req.headers, body };
      fake.requests.push(recorded);
      Promise.resolve(fake.handle(recorded, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  fake.endpoint = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/v1`;
  fake.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return fake;
}
