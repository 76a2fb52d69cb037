/**
 * lowbit serve's HTTP server (Node's http module): OpenAI's chat completions, completions and
 * models endpoints over an engine's slots, and /health. It starts answering before the model is
 * loaded (503 until then) and treats every request as hostile: bodies are capped and must arrive
 * in time, the JSON is checked field by field (openai.ts), only listed origins get CORS, an API key
 * is compared in constant time, a slow or vanished reader stops its generation, and no path maps
 * to a file.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EngineSlot, PreparedPrompt } from '../engine/engine.ts';
import {
  chatCompletion,
  chatCompletionChunks,
  textCompletion,
  textCompletionChunks,
  toCompletionCall,
  toEngineCall,
  type ChatCompletionRequest,
  type CompletionRequest,
  type StartGeneration,
} from '../engine/openai.ts';
import type { ChatMessage, GenerateOptions, ModelInfo } from '../engine/types.ts';
import { ApiError, toApiError } from './api-error.ts';
import { SchedulerClosedError, SlotScheduler, type SlotLease } from './slot-scheduler.ts';

/** What the server needs of an engine (the in-process Engine has it all). */
export interface ServedEngine {
  readonly info: ModelInfo;
  readonly slots: readonly EngineSlot[];
  prepareChat(messages: readonly ChatMessage[], options?: GenerateOptions): PreparedPrompt;
  prepareGenerate(prompt: string | readonly number[], options?: GenerateOptions): PreparedPrompt;
  /** Resolves when the engine can no longer run (GPU device lost). */
  readonly lost?: Promise<Error>;
}

export type ServerState = 'loading' | 'ready' | 'error';

export interface ServerOptions {
  /** Origins (scheme://host[:port]) allowed to call from a browser; others get 403. Default none. */
  corsOrigins?: readonly string[];
  /** When set, every /v1 request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Requests that may wait for a slot before the next gets 429 (default 4 per slot). */
  maxQueue?: number;
  /** Largest request body in bytes (default 1 MiB); larger gets 413. */
  maxBodyBytes?: number;
  /** Time allowed for a request's headers (default 10 s). */
  headersTimeoutMs?: number;
  /** Time allowed for a whole request, headers and body (default 30 s). */
  requestTimeoutMs?: number;
  /**
   * Answer only requests whose Host header names this machine's loopback (localhost, 127.x.y.z,
   * [::1]): a page that rebinds its own domain to 127.0.0.1 (DNS rebinding) then cannot reach the
   * server through the browser. For a server bound to loopback; default false.
   */
  loopbackHostsOnly?: boolean;
  /** Open connections at most (default 512); more are closed at once. */
  maxConnections?: number;
  /** Where unexpected errors are reported (default stderr). */
  log?: (line: string) => void;
}

export const MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Each connection holds a socket and buffers: a flood of them is cut off here. */
const DEFAULT_MAX_CONNECTIONS = 512;
/** How long shutdown lets the last replies flush before it closes every connection left. */
const SHUTDOWN_FLUSH_MS = 1000;
/** Headers a preflight may ask for: one token list, no longer than a header should be. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

/** A running server: its address, state, and a shutdown that aborts what is in flight. */
export interface LowbitServer {
  readonly http: Server;
  readonly state: ServerState;
  /** Starts serving `engine` (until then every /v1 request gets 503). */
  setEngine(engine: ServedEngine): void;
  /** The load failed (or the device was lost): /health says error, /v1 requests get 503. */
  setError(error: Error): void;
  listen(port: number, host: string): Promise<AddressInfo>;
  /**
   * Stops accepting connections, refuses queued requests (503), aborts running generations (their
   * replies end with finish_reason 'abort') and resolves once every response has ended.
   */
  shutdown(): Promise<void>;
}

export function createLowbitServer(options: ServerOptions = {}): LowbitServer {
  const corsOrigins = new Set(options.corsOrigins ?? []);
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const apiKeyDigest = options.apiKey === undefined ? null : sha256(options.apiKey);
  let state: ServerState = 'loading';
  let loadError: Error | null = null;
  let engine: ServedEngine | null = null;
  let scheduler: SlotScheduler<EngineSlot> | null = null;
  const shuttingDown = new AbortController();
  const inFlight = new Set<Promise<void>>();
  /** One per request that is waiting for or running a generation: shutdown aborts them all. */
  const generations = new Set<AbortController>();

  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const http = createServer(
    {
      headersTimeout: Math.min(options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout),
      requestTimeout,
      // How often the two timeouts above are checked: often enough that a short one holds.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 4))),
    },
    (req, res) => {
      const done = handle(req, res)
        .catch((e: unknown) => {
          const { error, internal } = toApiError(e);
          if (internal) log(`lowbit serve: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
          sendError(res, error);
        })
        .finally(() => inFlight.delete(done));
      inFlight.add(done);
    },
  );

  http.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;

  function cors(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    // A page from elsewhere may not even start a generation (a simple POST needs no preflight).
    if (!corsOrigins.has(origin))
      throw new ApiError(403, `origin ${JSON.stringify(origin)} is not allowed (see --cors-origin)`, 'origin_not_allowed');
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
  }

  function checkApiKey(req: IncomingMessage): void {
    if (!apiKeyDigest) return;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m || !timingSafeEqual(sha256(m[1]!), apiKeyDigest)) {
      throw new ApiError(401, 'a valid API key is needed: Authorization: Bearer <key>', 'invalid_api_key');
    }
  }

  function ready(): { engine: ServedEngine; scheduler: SlotScheduler<EngineSlot> } {
    if (shuttingDown.signal.aborted) throw new ApiError(503, 'the server is shutting down', 'shutting_down');
    if (state === 'error')
      throw new ApiError(503, `the model is unavailable: ${loadError?.message ?? 'unknown error'}`, 'model_unavailable');
    if (!engine || !scheduler) throw new ApiError(503, 'the model is still loading', 'model_loading', null, 1);
    return { engine, scheduler };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (options.loopbackHostsOnly && !isLoopbackHost(req.headers.host ?? '')) {
      throw new ApiError(
        403,
        `this server answers only to localhost, not to host ${truncate(JSON.stringify(req.headers.host ?? ''))}`,
        'host_not_allowed',
      );
    }
    // Only the path is read, never decoded into a file name: nothing here is served from disk.
    const path = (req.url ?? '').split('?')[0]!;
    const route = ROUTES[path];
    if (req.method === 'OPTIONS') return preflight(req, res, route !== undefined);
    cors(req, res);
    if (!route) throw new ApiError(404, `no such endpoint: ${req.method} ${truncate(path)}`, 'not_found');
    if (req.method !== route.method) {
      res.setHeader('Allow', route.method);
      throw new ApiError(405, `${truncate(path)} takes ${route.method}`, 'method_not_allowed');
    }
    if (route.name === 'health') return health(res);
    checkApiKey(req);
    if (route.name === 'models') {
      const { engine } = ready();
      return sendJson(res, 200, {
        object: 'list',
        data: [{ id: engine.info.name, object: 'model', created: 0, owned_by: 'lowbit', context_length: engine.info.contextSize }],
      });
    }
    ready(); // before reading a body nobody can serve
    const body = await readJson(req, maxBodyBytes, shuttingDown.signal);
    if (route.name === 'chat') return chat(res, body as ChatCompletionRequest);
    return completion(res, body as CompletionRequest);
  }

  function preflight(req: IncomingMessage, res: ServerResponse, known: boolean): void {
    const origin = req.headers.origin;
    if (origin === undefined || !corsOrigins.has(origin)) {
      throw new ApiError(403, `origin ${JSON.stringify(origin ?? null)} is not allowed (see --cors-origin)`, 'origin_not_allowed');
    }
    if (!known) throw new ApiError(404, 'no such endpoint', 'not_found');
    const asked = req.headers['access-control-request-headers'];
    res.writeHead(204, {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      // The official clients add their own x-… headers; an allowed origin may send what it asks.
      'Access-Control-Allow-Headers': asked && asked.length <= 2048 && HEADER_LIST.test(asked) ? asked : 'Authorization, Content-Type',
      'Access-Control-Max-Age': '600',
      Vary: 'Origin',
    });
    res.end();
  }

  function health(res: ServerResponse): void {
    const body: Record<string, unknown> = { status: shuttingDown.signal.aborted ? 'error' : state };
    if (state === 'error') body.error = loadError?.message ?? 'unknown error';
    if (scheduler) body.slots = { total: scheduler.size, busy: scheduler.busy, queued: scheduler.queued };
    sendJson(res, state === 'ready' && !shuttingDown.signal.aborted ? 200 : 503, body);
  }

  /** Aborts when the client goes away before its response ended, or when the server shuts down. */
  function requestSignal(res: ServerResponse): { signal: AbortSignal; done(): void } {
    const controller = new AbortController();
    generations.add(controller);
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new Error('the client disconnected'));
    });
    return { signal: controller.signal, done: () => generations.delete(controller) };
  }

  async function runOnSlot(
    res: ServerResponse,
    prepared: PreparedPrompt,
    reply: (start: StartGeneration, model: string, signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    const { engine, scheduler } = ready();
    const contextSize = engine.info.contextSize;
    if (prepared.tokens.length >= contextSize) {
      throw new ApiError(
        400,
        `the prompt has ${prepared.tokens.length} tokens; the server's context holds ${contextSize}, which leaves no room to generate`,
        'context_length_exceeded',
      );
    }
    const { signal, done } = requestSignal(res);
    try {
      let lease: SlotLease<EngineSlot>;
      try {
        lease = await scheduler.acquire(prepared.tokens, signal);
      } catch (e) {
        if (signal.aborted && !shuttingDown.signal.aborted) return; // left while waiting: nobody to answer
        throw e;
      }
      try {
        await reply((s) => lease.slot.run(prepared, s), engine.info.name, signal);
      } finally {
        lease.release();
      }
    } finally {
      done();
    }
  }

  async function chat(res: ServerResponse, request: ChatCompletionRequest): Promise<void> {
    const { messages, options } = toEngineCall(request);
    const prepared = ready().engine.prepareChat(messages, options);
    const includeUsage = Boolean(request.stream_options?.include_usage);
    await runOnSlot(res, prepared, async (start, model, signal) => {
      if (request.stream) await sendEvents(res, chatCompletionChunks(start, model, includeUsage, signal));
      else sendJson(res, 200, await chatCompletion(start, model, signal));
    });
  }

  async function completion(res: ServerResponse, request: CompletionRequest): Promise<void> {
    const { prompt, options } = toCompletionCall(request);
    const { engine } = ready();
    if (typeof prompt !== 'string') {
      const { vocabSize } = engine.info;
      const bad = prompt.findIndex((id) => id >= vocabSize);
      if (bad >= 0)
        throw new ApiError(
          400,
          `prompt[${bad}] is ${prompt[bad]}, not a token id of this model (0..${vocabSize - 1})`,
          'invalid_value',
          'prompt',
        );
    }
    const prepared = engine.prepareGenerate(prompt, options);
    const includeUsage = Boolean(request.stream_options?.include_usage);
    await runOnSlot(res, prepared, async (start, model, signal) => {
      if (request.stream) await sendEvents(res, textCompletionChunks(start, model, includeUsage, signal));
      else sendJson(res, 200, await textCompletion(start, model, signal));
    });
  }

  return {
    http,
    get state() {
      return state;
    },
    setEngine(e) {
      engine = e;
      scheduler = new SlotScheduler(e.slots, options.maxQueue ?? 4 * e.slots.length);
      state = 'ready';
      void e.lost?.then((err) => this.setError(err));
    },
    setError(e) {
      loadError = e;
      state = 'error';
      scheduler?.close(new SchedulerClosedError(`the model is unavailable: ${e.message}`));
    },
    listen(port, host) {
      return new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve(http.address() as AddressInfo);
        });
      });
    },
    async shutdown() {
      if (!shuttingDown.signal.aborted) {
        shuttingDown.abort();
        scheduler?.close(new SchedulerClosedError('the server is shutting down'));
        for (const g of generations) g.abort(new Error('the server is shutting down'));
      }
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      await Promise.allSettled([...inFlight]);
      // Keep-alive connections that carried the last responses are idle now.
      http.closeIdleConnections();
      // A connection still sending its request (a slow or stalled client) is not idle, and the
      // closed server no longer times it out: after a moment for the last replies to flush, cut it.
      let grace: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (grace = setTimeout(resolve, SHUTDOWN_FLUSH_MS)))]);
      clearTimeout(grace);
      http.closeAllConnections();
      await closed;
    },
  };
}

const ROUTES: Readonly<Record<string, { name: 'chat' | 'completions' | 'models' | 'health'; method: 'GET' | 'POST' }>> = Object.assign(
  Object.create(null) as object,
  {
    '/v1/chat/completions': { name: 'chat', method: 'POST' },
    '/v1/completions': { name: 'completions', method: 'POST' },
    '/v1/models': { name: 'models', method: 'GET' },
    '/health': { name: 'health', method: 'GET' },
  } as const,
);

/** Whether a Host header (name, optional port) names the loopback interface. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(name);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function truncate(s: string): string {
  return s.length > 200 ? s.slice(0, 200) + '…' : s;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, error: ApiError): void {
  if (res.headersSent) {
    // Mid-stream: the error goes out as one last event, as OpenAI-compatible servers send it.
    if (!res.writableEnded && !res.destroyed) res.end(`data: ${JSON.stringify(error.body)}\n\n`);
    return;
  }
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds);
  // A refused body may still be arriving: do not keep reading it on this connection.
  if (error.status === 413) headers.Connection = 'close';
  sendJson(res, error.status, error.body, headers);
}

/** Writes each object as one SSE `data:` event, then `data: [DONE]`; waits for a slow reader. */
async function sendEvents(res: ServerResponse, events: AsyncIterable<unknown>): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  for await (const event of events) {
    if (res.destroyed) break; // the generation was aborted by the close; leave the loop to free it
    if (!res.write(`data: ${JSON.stringify(event)}\n\n`)) await drained(res);
  }
  if (!res.destroyed) res.end('data: [DONE]\n\n');
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The request body as JSON, at most `limit` bytes: 413 past it, 400 naming the problem otherwise. */
async function readJson(req: IncomingMessage, limit: number, shutdown: AbortSignal): Promise<unknown> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(req, limit);
  let onShutdown = () => {};
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        reject(tooLarge(req, limit));
      } else chunks.push(chunk);
    };
    // A body still arriving when the server stops is not waited for.
    onShutdown = () => reject(new ApiError(503, 'the server is shutting down', 'shutting_down'));
    if (shutdown.aborted) onShutdown();
    shutdown.addEventListener('abort', onShutdown, { once: true });
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  }).finally(() => shutdown.removeEventListener('abort', onShutdown));
  if (bytes.length === 0) throw new ApiError(400, 'the request needs a JSON body', 'invalid_json');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, 'the request body is not UTF-8 text', 'invalid_json');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`, 'invalid_json');
  }
}

/** The refusal of an oversized body; the rest of it is read and dropped so the 413 can be sent. */
function tooLarge(req: IncomingMessage, limit: number): ApiError {
  req.resume();
  return new ApiError(413, `the request body is larger than ${limit} bytes`, 'request_too_large');
}
