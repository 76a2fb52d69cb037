/**
 * The remote variant of openaiClient (openai.ts): the same chat.completions.create, answered by an
 * OpenAI-compatible server (lowbit serve, llama.cpp's llama-server, vLLM, Ollama) streaming over
 * SSE from `<endpoint>/chat/completions`, so application code does not change:
 *
 *   const client = remoteOpenaiClient({ endpoint: 'https://host/v1', model: 'qwen2.5-7b' });
 *   for await (const chunk of await client.chat.completions.create({ messages, stream: true })) …
 *
 * and RemoteEngine, an LlmEngine over the same requests, which <llm-chat endpoint> runs instead
 * of a local worker.
 *
 * The server is hostile input. Every reply is read as a stream under a byte budget
 * (maxResponseBytes), a line and event budget (sse.ts), and an idle timeout that only a whole
 * event resets; each chunk is JSON.parse'd (nothing is evaluated) and checked against the shape
 * of a completion chunk before any field is used; strings from it are cut to a length. HTTP errors
 * and OpenAI error objects become RemoteServerError, a broken stream RemoteProtocolError, silence
 * RemoteTimeoutError. Redirects are refused (a key must not follow one to another host).
 * Non-streaming requests stream too, and are gathered here: the timeout, the abort and the budgets
 * work the same way for both.
 */
import { InvalidEndpointError, LowbitError, RemoteProtocolError, RemoteServerError, RemoteTimeoutError } from '../errors.ts';
import { raceAbort } from '../storage/http.ts';
import {
  randomId,
  linkedController,
  toEngineCall,
  usageOf,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionFinishReason,
  type ChatCompletionRequest,
  type ChatCompletionRequestNonStreaming,
  type ChatCompletionRequestStreaming,
  type OpenAIClient,
} from './openai.ts';
import { SseParser } from './sse.ts';
import { TokenQueue } from './token-queue.ts';
import {
  CHAT_TEMPERATURE,
  SAMPLING_DEFAULTS,
  type ChatMessage,
  type GenerateOptions,
  type GenerationStats,
  type LlmEngine,
  type ModelInfo,
  type TokenStream,
} from './types.ts';

export interface RemoteOptions {
  /**
   * The API's base URL, e.g. `https://host/v1` (requests go to `<endpoint>/chat/completions`); a
   * relative one (a same-origin proxy) is resolved against the page.
   */
  endpoint: string;
  /** The model to ask for; a request's own `model` wins. */
  model?: string;
  /**
   * Sent as `Authorization: Bearer <apiKey>`. Anyone who can load the page can read it: use it
   * only on private pages, and a same-origin proxy that adds the key (`fetch`) everywhere else.
   */
  apiKey?: string;
  /** The fetch to call (default: the global one). Wrap it to add headers or credentials. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Longest wait for the reply to start, and then between two events. */
  idleTimeoutMs?: number;
  /** Most bytes one reply may take. */
  maxResponseBytes?: number;
}

export const REMOTE_LIMITS = {
  /** Long enough for a busy server to prefill a long prompt before its first event. */
  idleTimeoutMs: 120_000,
  maxResponseBytes: 16 * 1024 * 1024,
  /** A chunk is a few hundred bytes; an event past this is not a completion chunk. */
  maxLineChars: 256 * 1024,
  /** One event per token, with room for role, finish and usage chunks. */
  maxEvents: 200_000,
  /** Most bytes read of an error body, or of the model list. */
  maxSmallBodyBytes: 1024 * 1024,
  /** Strings from the server (error messages, model names, ids) are cut to this many characters. */
  maxTextChars: 500,
};

/** Validates an endpoint and returns it without a trailing slash. */
export function endpointUrl(endpoint: string): string {
  if (typeof endpoint !== 'string' || !endpoint.trim()) {
    throw new InvalidEndpointError("no endpoint: give the server's API base URL, e.g. https://host/v1");
  }
  const shown = JSON.stringify(cut(endpoint.trim(), 200));
  let url: URL;
  try {
    url = new URL(endpoint.trim(), globalThis.location?.href);
  } catch {
    throw new InvalidEndpointError(`the endpoint ${shown} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidEndpointError(`the endpoint ${shown} must be an http(s) URL`);
  }
  if (url.username || url.password) {
    throw new InvalidEndpointError(`the endpoint ${shown} carries a user name or password: give the key as the API key instead`);
  }
  if (url.search || url.hash) throw new InvalidEndpointError(`the endpoint ${shown} must not have a query or fragment`);
  return url.href.replace(/\/+$/, '');
}

function cut(text: string, max = REMOTE_LIMITS.maxTextChars): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A count from the server: a non-negative safe integer, else the reply is refused. */
function count(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new RemoteProtocolError(`the server sent ${field} ${cut(JSON.stringify(v) ?? String(v), 40)}, not a count`);
  }
  return v;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new RemoteProtocolError(`the server sent a ${typeof v} as ${field}, not a string`);
  return v;
}

/** An error object in a reply: OpenAI's {error: {message, type, code}}, or vLLM's flat {object: 'error', message, type, code}. */
function isErrorBody(json: Record<string, unknown>): boolean {
  return (json.error !== undefined && json.error !== null) || json.object === 'error';
}

/** A RemoteServerError from an error object (see isErrorBody) or a plain status. */
function serverError(status: number | undefined, body: unknown, what: string): RemoteServerError {
  const error = isObject(body) ? (body.object === 'error' ? body : body.error) : undefined;
  const fields = isObject(error) ? error : {};
  const text = (v: unknown) => (typeof v === 'string' && v ? cut(v) : typeof v === 'number' ? String(v) : undefined);
  const message = text(fields.message) ?? (typeof error === 'string' ? cut(error) : undefined);
  const head = status !== undefined ? `${what} failed: HTTP ${status}` : `${what} failed`;
  return new RemoteServerError(message ? `${head}: ${message}` : head, status, text(fields.type), text(fields.code));
}

/** Fires once `ms` pass without a reset(), aborting `controller` with a RemoteTimeoutError. */
class Watchdog {
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(
    private readonly ms: number,
    private readonly controller: AbortController,
    private readonly what: string,
  ) {
    this.reset();
  }
  reset(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => this.controller.abort(new RemoteTimeoutError(`${this.what}: the server sent nothing for ${this.ms / 1000} s`)),
      this.ms,
    );
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}

/** One validated choice of a streamed chunk: the text it adds and, on the last, why it ended. */
interface ChunkChoice {
  role?: 'assistant';
  text?: string;
  finish: string | null;
}

/** A validated streamed chunk (chat.completion.chunk or text_completion). */
interface StreamChunk {
  id?: string;
  model?: string;
  created?: number;
  choice: ChunkChoice | null;
  usage: { prompt: number; completion: number } | null;
}

type Kind = 'chat' | 'text';

/** Checks one event's JSON against a completion chunk's shape and keeps what this client uses. */
export function parseChunk(data: string, kind: Kind): StreamChunk {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new RemoteProtocolError(`the server sent an event that is not JSON: ${JSON.stringify(cut(data, 80))}`);
  }
  if (!isObject(json)) throw new RemoteProtocolError('the server sent an event that is not a JSON object');
  if (isErrorBody(json)) throw serverError(undefined, json, 'the reply');
  if (!Array.isArray(json.choices)) throw new RemoteProtocolError('the server sent a chunk without a choices array');
  if (json.choices.length > 16) throw new RemoteProtocolError(`the server sent a chunk with ${json.choices.length} choices`);
  let choice: ChunkChoice | null = null;
  for (const [i, c] of json.choices.entries()) {
    if (!isObject(c)) throw new RemoteProtocolError(`choices[${i}] of a chunk is not an object`);
    // One choice per request (n = 1): another index is not this reply's.
    if (c.index !== undefined && c.index !== 0) continue;
    const finish = optionalString(c.finish_reason, `choices[${i}].finish_reason`) ?? null;
    let text: string | undefined;
    let role: 'assistant' | undefined;
    if (kind === 'chat') {
      if (c.delta !== undefined && c.delta !== null && !isObject(c.delta))
        throw new RemoteProtocolError(`choices[${i}].delta is not an object`);
      const delta = c.delta ?? {};
      text = optionalString(delta.content, `choices[${i}].delta.content`);
      if (delta.role !== undefined && delta.role !== null && delta.role !== 'assistant') {
        throw new RemoteProtocolError(`choices[${i}].delta.role is ${cut(JSON.stringify(delta.role) ?? '', 40)}, not 'assistant'`);
      }
      if (delta.role === 'assistant') role = 'assistant';
    } else {
      text = optionalString(c.text, `choices[${i}].text`);
    }
    choice = { role, text, finish };
  }
  let usage: StreamChunk['usage'] = null;
  if (json.usage !== undefined && json.usage !== null) {
    if (!isObject(json.usage)) throw new RemoteProtocolError('the usage of a chunk is not an object');
    usage = {
      prompt: count(json.usage.prompt_tokens, 'usage.prompt_tokens'),
      completion: count(json.usage.completion_tokens, 'usage.completion_tokens'),
    };
  }
  const id = optionalString(json.id, 'id');
  const model = optionalString(json.model, 'model');
  const created = typeof json.created === 'number' && Number.isSafeInteger(json.created) && json.created >= 0 ? json.created : undefined;
  return { id: id && cut(id, 200), model: model && cut(model, 200), created, choice, usage };
}

/** Client-side timings of one reply (the OpenAI API does not report speeds). */
class ReplyClock {
  private readonly t0 = performance.now();
  private tFirst = 0;
  private tLast = 0;
  tokens = 0;
  text(): void {
    const now = performance.now();
    if (!this.tFirst) this.tFirst = now;
    this.tLast = now;
    this.tokens++;
  }
  stats(usage: { prompt: number; completion: number } | null, finishReason: GenerationStats['finishReason']): GenerationStats {
    const end = this.tLast || performance.now();
    const ttftMs = (this.tFirst || end) - this.t0;
    const generated = usage?.completion ?? this.tokens;
    const decodeMs = this.tFirst ? end - this.tFirst : 0;
    const prompt = usage?.prompt ?? 0;
    return {
      promptTokens: prompt,
      generatedTokens: generated,
      prefillTokensPerSec: ttftMs > 0 ? prompt / (ttftMs / 1000) : 0,
      decodeTokensPerSec: decodeMs > 0 && generated > 1 ? (generated - 1) / (decodeMs / 1000) : 0,
      timeToFirstTokenMs: ttftMs,
      finishReason,
    };
  }
}

/** The client's finish reason: the server's 'length' and 'abort' (lowbit serve shutting down) kept, the rest 'stop'. */
function mapFinish(reason: string | null, aborted: boolean): ChatCompletionFinishReason {
  if (aborted || reason === 'abort') return 'abort';
  return reason === 'length' ? 'length' : 'stop';
}

/** The HTTP side shared by the client and the engine: requests, budgets, timeouts, errors. */
class RemoteApi {
  readonly base: string;
  readonly model: string;
  private readonly fetchFn: NonNullable<RemoteOptions['fetch']>;
  private readonly idleTimeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(private readonly options: RemoteOptions) {
    this.base = endpointUrl(options.endpoint);
    this.model = options.model ?? '';
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.idleTimeoutMs = options.idleTimeoutMs ?? REMOTE_LIMITS.idleTimeoutMs;
    this.maxResponseBytes = options.maxResponseBytes ?? REMOTE_LIMITS.maxResponseBytes;
    for (const [name, v] of [
      ['idleTimeoutMs', this.idleTimeoutMs],
      ['maxResponseBytes', this.maxResponseBytes],
    ] as const) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer (got ${v})`);
    }
  }

  /** Sends a request and returns the response once its headers are in, as a 2xx or a thrown error. */
  private async send(path: string, init: RequestInit, controller: AbortController, what: string): Promise<Response> {
    const headers: Record<string, string> = { accept: init.method === 'POST' ? 'text/event-stream' : 'application/json' };
    if (init.body) headers['content-type'] = 'application/json';
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const watchdog = new Watchdog(this.idleTimeoutMs, controller, what);
    let res: Response;
    try {
      res = await raceAbort(
        this.fetchFn(this.base + path, { ...init, headers, signal: controller.signal, redirect: 'error', referrerPolicy: 'no-referrer' }),
        controller.signal,
      );
    } catch (e) {
      if (controller.signal.aborted) throw controller.signal.reason;
      const cause = e instanceof Error ? e.message : String(e);
      throw new RemoteServerError(
        `${what}: could not reach ${this.base} (${cut(cause, 200)}). Is the server running, and does it allow this page's origin (CORS)?`,
      );
    } finally {
      watchdog.stop();
    }
    if (!res.ok) {
      const text = await this.readAll(res, controller, REMOTE_LIMITS.maxSmallBodyBytes, what).catch(() => '');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      throw serverError(res.status, body, what);
    }
    return res;
  }

  /** A whole (small) body as text, under `maxBytes` and the idle timeout. */
  private async readAll(res: Response, controller: AbortController, maxBytes: number, what: string): Promise<string> {
    const decoder = new TextDecoder();
    let text = '';
    for await (const piece of this.pieces(res, controller, maxBytes, what)) text += decoder.decode(piece, { stream: true });
    return text + decoder.decode();
  }

  /**
   * The body's pieces under the byte budget; each read waits at most the idle timeout (the caller
   * may reset `watchdog` for progress of its own, such as whole events).
   */
  private async *pieces(
    res: Response,
    controller: AbortController,
    maxBytes: number,
    what: string,
    watchdog?: Watchdog,
  ): AsyncGenerator<Uint8Array> {
    if (!res.body) return;
    const reader = res.body.getReader();
    const own = watchdog ?? new Watchdog(this.idleTimeoutMs, controller, what);
    let bytes = 0;
    try {
      for (;;) {
        const { done, value } = await raceAbort(reader.read(), controller.signal);
        if (done) return;
        bytes += value.byteLength;
        if (bytes > maxBytes) throw new RemoteProtocolError(`${what}: the server sent more than ${maxBytes} bytes`);
        if (!watchdog) own.reset();
        yield value;
      }
    } finally {
      if (!watchdog) own.stop();
      // Cancelling the body closes the connection: the server sees the client leave.
      reader.cancel().catch(() => undefined);
      controller.abort();
    }
  }

  /** GET <endpoint>/models: the ids the server lists, or null when it has no such route. */
  async listModels(signal?: AbortSignal): Promise<{ id: string; contextLength?: number }[] | null> {
    const controller = linkedController(signal);
    const what = 'listing the models';
    let res: Response;
    try {
      res = await this.send('/models', { method: 'GET' }, controller, what);
    } catch (e) {
      // A proxy may forward only the completion routes.
      if (e instanceof RemoteServerError && (e.status === 404 || e.status === 405)) return null;
      throw e;
    }
    const text = await this.readAll(res, controller, REMOTE_LIMITS.maxSmallBodyBytes, what);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RemoteProtocolError(`${what}: the server's answer is not JSON`);
    }
    if (!isObject(json) || !Array.isArray(json.data)) throw new RemoteProtocolError(`${what}: the answer has no data array`);
    return json.data.slice(0, 1000).flatMap((m) => {
      if (!isObject(m) || typeof m.id !== 'string' || !m.id) return [];
      // vLLM says max_model_len, lowbit serve (and OpenRouter) context_length.
      const ctx = m.max_model_len ?? m.context_length;
      const contextLength = typeof ctx === 'number' && Number.isSafeInteger(ctx) && ctx > 0 ? ctx : undefined;
      return [{ id: cut(m.id, 200), contextLength }];
    });
  }

  /**
   * POSTs a streaming request to `path` and returns its validated chunks. Resolves once the reply
   * has started (HTTP errors reject here); the chunks end at [DONE] or when `signal` aborts (the
   * connection is closed then).
   */
  async stream(
    path: string,
    body: Record<string, unknown>,
    kind: Kind,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<AsyncGenerator<StreamChunk>> {
    const controller = linkedController(signal);
    const res = await this.send(path, { method: 'POST', body: JSON.stringify(body) }, controller, what);
    const type = res.headers.get('content-type') ?? '';
    if (!/^text\/event-stream\b/i.test(type)) {
      await res.body?.cancel().catch(() => undefined);
      throw new RemoteProtocolError(
        `${what}: the server answered ${cut(JSON.stringify(type), 80)}, not an event stream (text/event-stream)`,
      );
    }
    const parser = new SseParser({ maxLineChars: REMOTE_LIMITS.maxLineChars, maxEvents: REMOTE_LIMITS.maxEvents });
    const watchdog = new Watchdog(this.idleTimeoutMs, controller, what);
    const pieces = this.pieces(res, controller, this.maxResponseBytes, what, watchdog);
    async function* chunks(): AsyncGenerator<StreamChunk> {
      const decoder = new TextDecoder();
      let finished = false;
      try {
        for await (const piece of pieces) {
          for (const event of parser.push(decoder.decode(piece, { stream: true }))) {
            watchdog.reset();
            if (event.data === '[DONE]') {
              finished = true;
              return;
            }
            const chunk = parseChunk(event.data, kind);
            if (chunk.choice?.finish) finished = true;
            yield chunk;
          }
        }
        parser.end();
        if (!finished) throw new RemoteProtocolError(`${what}: the stream ended before the reply did (no finish_reason, no [DONE])`);
      } catch (e) {
        // The caller's abort ends the stream quietly; the watchdog's is a timeout.
        if (signal?.aborted) return;
        throw controller.signal.aborted && controller.signal.reason instanceof LowbitError ? controller.signal.reason : e;
      } finally {
        watchdog.stop();
        await pieces.return(undefined);
      }
    }
    return chunks();
  }
}

/** The request body's sampling fields, from the engine's options. */
function samplingFields(options: GenerateOptions, defaultTemperature: number): Record<string, unknown> {
  for (const key of ['repetitionPenalty', 'penaltyWindow'] as const) {
    if (options[key] !== undefined && options[key] !== SAMPLING_DEFAULTS[key]) {
      throw new TypeError(`${key} has no OpenAI API field: an OpenAI-compatible server cannot honour it`);
    }
  }
  if (options.topLogprobs) throw new TypeError('topLogprobs is not supported over the OpenAI API by this client');
  const body: Record<string, unknown> = { temperature: options.temperature ?? defaultTemperature };
  if (options.topP !== undefined) body.top_p = options.topP;
  // Extensions llama-server and vLLM accept; sent only when asked for.
  if (options.topK) body.top_k = options.topK;
  if (options.minP) body.min_p = options.minP;
  if (options.maxTokens !== undefined) body.max_tokens = options.maxTokens;
  if (options.seed !== undefined) body.seed = options.seed;
  if (options.stop?.length) body.stop = options.stop;
  if (options.frequencyPenalty) body.frequency_penalty = options.frequencyPenalty;
  if (options.presencePenalty) body.presence_penalty = options.presencePenalty;
  return body;
}

/**
 * openaiClient's remote variant: chat.completions.create with the same requests (validated the
 * same way) and the same chunk and completion shapes, answered by the server at `endpoint`.
 * usage.extra's speeds are measured by the client (they include the network).
 */
export function remoteOpenaiClient(options: RemoteOptions): OpenAIClient {
  const api = new RemoteApi(options);

  async function streamChunks(request: ChatCompletionRequest): Promise<AsyncGenerator<ChatCompletionChunk>> {
    const { messages, options: sampling } = toEngineCall(request);
    const model = request.model || api.model;
    const includeUsage = Boolean(request.stream_options?.include_usage);
    const body = {
      ...samplingFields(sampling, CHAT_TEMPERATURE),
      // No model named: the server's default (llama-server runs one; vLLM and Ollama then say which exist).
      ...(model ? { model } : {}),
      messages,
      stream: true,
      stream_options: { include_usage: true },
    };
    const clock = new ReplyClock();
    const chunks = await api.stream('/chat/completions', body, 'chat', request.signal, 'chat completion');
    const fallbackId = randomId('chatcmpl-');
    const created = Math.floor(Date.now() / 1000);
    async function* run(): AsyncGenerator<ChatCompletionChunk> {
      let id = fallbackId;
      let served = model;
      let finish: string | null = null;
      let usage: StreamChunk['usage'] = null;
      const chunk = (
        delta: ChatCompletionChunk['choices'][0]['delta'],
        reason: ChatCompletionFinishReason | null,
      ): ChatCompletionChunk => ({
        id,
        object: 'chat.completion.chunk',
        created,
        model: served,
        choices: [{ index: 0, delta, finish_reason: reason, logprobs: null }],
      });
      for await (const c of chunks) {
        id = c.id ?? id;
        served = c.model ?? served;
        if (c.usage) usage = c.usage;
        const choice = c.choice;
        if (!choice) continue;
        if (choice.text) clock.text();
        const delta: ChatCompletionChunk['choices'][0]['delta'] = {};
        if (choice.role) delta.role = choice.role;
        if (choice.text !== undefined) delta.content = choice.text;
        if (choice.finish) finish = choice.finish;
        const reason = choice.finish ? mapFinish(choice.finish, false) : null;
        if (delta.role || delta.content || reason) yield chunk(delta, reason);
      }
      const aborted = Boolean(request.signal?.aborted);
      if (aborted) yield chunk({}, 'abort');
      if (includeUsage) yield { ...chunk({}, null), choices: [], usage: usageOf(clock.stats(usage, mapFinish(finish, aborted))) };
    }
    return run();
  }

  async function complete(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion> {
    const chunks = await streamChunks({ ...request, stream: true, stream_options: { include_usage: true } });
    let content = '';
    let reason: ChatCompletionFinishReason = 'stop';
    let last: ChatCompletionChunk | null = null;
    for await (const c of chunks) {
      last = c;
      const choice = c.choices[0];
      if (choice?.delta.content) content += choice.delta.content;
      if (choice?.finish_reason) reason = choice.finish_reason;
      if (c.usage) {
        return {
          id: c.id,
          object: 'chat.completion',
          created: c.created,
          model: c.model,
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: reason, logprobs: null }],
          usage: c.usage,
        };
      }
    }
    throw new RemoteProtocolError(`chat completion: the reply ended without its usage (${last ? 'after' : 'before'} its first chunk)`);
  }

  function create(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion>;
  function create(request: ChatCompletionRequestStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  function create(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
  async function create(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    if (request?.stream) return streamChunks(request);
    return complete(request as ChatCompletionRequestNonStreaming);
  }

  return { chat: { completions: { create } } };
}

/** What RemoteEngine.info says about a model it never sees: its name and where it runs. */
function remoteInfo(base: string, name: string, contextSize: number, warnings: string[]): ModelInfo {
  return {
    name: name || 'the server\u2019s model',
    architecture: 'remote',
    parameters: 0,
    contextSize,
    modelContextLength: contextSize,
    vocabSize: 0,
    fileBytes: 0,
    gpuBytes: { weights: 0, kvCache: 0, scratch: 0 },
    tensorTypes: {},
    hasChatTemplate: true,
    adapter: `OpenAI-compatible server at ${base}`,
    warnings,
  };
}

/**
 * An LlmEngine whose replies come from an OpenAI-compatible server: chat() streams
 * `<endpoint>/chat/completions`, generate() `<endpoint>/completions`. It holds no conversation
 * (reset() has nothing to clear) and no model (info describes the server's; contextSize 0: not
 * known unless the server lists it). Tokens carry id -1: the API streams text, not token ids.
 *
 *   chat.engine = new RemoteEngine({ endpoint: '/llm/v1', model: 'qwen', fetch: viaMyProxy });
 */
export class RemoteEngine implements LlmEngine {
  readonly info: ModelInfo;
  private readonly api: RemoteApi;
  private readonly running = new Set<AbortController>();
  private disposed = false;

  constructor(options: RemoteOptions, info?: ModelInfo) {
    this.api = new RemoteApi(options);
    this.info = info ?? remoteInfo(this.api.base, this.api.model, 0, []);
  }

  /** The API base URL requests go to. */
  get endpoint(): string {
    return this.api.base;
  }

  /**
   * Checks the server answers (GET /models) before a first request, and picks its first model
   * when `options.model` names none. A server without a model list (a proxy of the completion
   * routes only) is taken as it is.
   */
  static async connect(options: RemoteOptions, signal?: AbortSignal): Promise<RemoteEngine> {
    const api = new RemoteApi(options);
    const models = await api.listModels(signal);
    let model = api.model;
    const warnings: string[] = [];
    if (models && !model) {
      if (!models.length) throw new RemoteProtocolError(`${api.base} lists no model: name one`);
      model = models[0]!.id;
    } else if (models?.length && !models.some((m) => m.id === model)) {
      warnings.push(
        `${api.base} does not list the model ${JSON.stringify(cut(model, 200))} (it lists ${models.length}); replies come from whatever the server runs under that name.`,
      );
    }
    const context = models?.find((m) => m.id === model)?.contextLength ?? 0;
    return new RemoteEngine({ ...options, model }, remoteInfo(api.base, model, context, warnings));
  }

  chat(messages: ChatMessage[], options: GenerateOptions = {}): TokenStream {
    return this.run('/chat/completions', 'chat', () => ({ ...samplingFields(options, CHAT_TEMPERATURE), messages }), options.signal);
  }

  generate(prompt: string | number[], options: GenerateOptions = {}): TokenStream {
    return this.run(
      '/completions',
      'text',
      () => {
        if (typeof prompt !== 'string') throw new TypeError('a remote engine takes a text prompt, not token ids');
        return { ...samplingFields(options, SAMPLING_DEFAULTS.temperature), prompt };
      },
      options.signal,
    );
  }

  countTokens(_text: string): Promise<number> {
    return Promise.reject(new LowbitError('an OpenAI-compatible server does not count tokens over its API'));
  }

  async reset(): Promise<void> {
    // The server keeps no conversation between requests: each one carries the whole history.
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const c of this.running) c.abort();
  }

  private run(path: string, kind: Kind, body: () => Record<string, unknown>, signal: AbortSignal | undefined): TokenStream {
    const controller = linkedController(signal);
    const queue = new TokenQueue();
    let resolveStats!: (s: GenerationStats) => void;
    let rejectStats!: (e: unknown) => void;
    const stats = new Promise<GenerationStats>((resolve, reject) => ((resolveStats = resolve), (rejectStats = reject)));
    stats.catch(() => undefined);
    const work = async () => {
      if (this.disposed) throw new LowbitError('this remote engine was disposed');
      this.running.add(controller);
      const clock = new ReplyClock();
      let finish: string | null = null;
      let usage: StreamChunk['usage'] = null;
      try {
        const model = this.api.model ? { model: this.api.model } : {};
        const request = { ...body(), ...model, stream: true, stream_options: { include_usage: true } };
        const chunks = await this.api.stream(path, request, kind, controller.signal, kind === 'chat' ? 'chat completion' : 'completion');
        for await (const c of chunks) {
          if (c.usage) usage = c.usage;
          if (c.choice?.finish) finish = c.choice.finish;
          if (c.choice?.text) {
            clock.text();
            queue.push({ id: -1, text: c.choice.text });
          }
        }
      } catch (e) {
        if (!controller.signal.aborted || e instanceof LowbitError) throw e;
      } finally {
        this.running.delete(controller);
      }
      return clock.stats(usage, mapFinish(finish, controller.signal.aborted));
    };
    work().then(
      (s) => {
        resolveStats(s);
        queue.end();
      },
      (e) => {
        rejectStats(e);
        queue.end(e);
      },
    );
    return {
      stats,
      [Symbol.asyncIterator]: () => queue.iterator(() => controller.abort()),
    };
  }
}
