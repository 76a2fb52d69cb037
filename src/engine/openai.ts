/**
 * An OpenAI-style chat completions API over any LlmEngine (in-process or worker client):
 *
 *   const client = openaiClient(engine);
 *   const reply = await client.chat.completions.create({ messages, max_tokens: 64 });
 *   for await (const chunk of await client.chat.completions.create({ messages, stream: true })) …
 *
 * Object shapes follow OpenAI's (and WebLLM's) chat.completion / chat.completion.chunk, with
 * WebLLM's extensions: finish_reason 'abort' and usage.extra speeds. One choice per request (n=1).
 */
import type { ChatMessage, FinishReason, GenerateOptions, GenerationStats, LlmEngine, TokenStream } from './types.ts';

export type ChatRole = ChatMessage['role'];

export interface ChatCompletionContentPartText {
  type: 'text';
  text: string;
}

export interface ChatCompletionMessageParam {
  role: ChatRole;
  content: string | ChatCompletionContentPartText[];
  name?: string;
}

interface ChatCompletionRequestBase {
  messages: ChatCompletionMessageParam[];
  /** Ignored (the engine runs the model it loaded); accepted for compatibility. */
  model?: string | null;
  temperature?: number | null;
  top_p?: number | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  /** Only 1 is supported. */
  n?: number | null;
  stream_options?: { include_usage?: boolean } | null;
  /** Not OpenAI: aborts the generation (the reply ends with finish_reason 'abort'). */
  signal?: AbortSignal;
}

export interface ChatCompletionRequestNonStreaming extends ChatCompletionRequestBase {
  stream?: false | null;
}

export interface ChatCompletionRequestStreaming extends ChatCompletionRequestBase {
  stream: true;
}

export type ChatCompletionRequest = ChatCompletionRequestNonStreaming | ChatCompletionRequestStreaming;

export type ChatCompletionFinishReason = 'stop' | 'length' | 'abort';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  extra: {
    prefill_tokens_per_s: number;
    decode_tokens_per_s: number;
    time_to_first_token_s: number;
  };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string };
    finish_reason: ChatCompletionFinishReason;
    logprobs: null;
  }[];
  usage: CompletionUsage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: 'assistant'; content?: string };
    finish_reason: ChatCompletionFinishReason | null;
    logprobs: null;
  }[];
  /** Only on the final chunk, and only with stream_options.include_usage. */
  usage?: CompletionUsage;
}

/** A /v1/completions request (raw text in, text out; served by lowbit serve). */
export interface CompletionRequest {
  /** Text, token ids, or a batch of one of those. */
  prompt: string | number[] | string[] | number[][];
  model?: string | null;
  temperature?: number | null;
  top_p?: number | null;
  max_tokens?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
}

export interface TextCompletion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: { index: number; text: string; finish_reason: ChatCompletionFinishReason | null; logprobs: null }[];
  /** Always on the whole reply; on a stream only on the last chunk, and only with include_usage. */
  usage?: CompletionUsage;
}

export interface ChatCompletions {
  create(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion>;
  create(request: ChatCompletionRequestStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

export interface OpenAIClient {
  chat: { completions: ChatCompletions };
}

/** A request field of the wrong type or shape; `param` names it, as in OpenAI's error object. */
export class RequestTypeError extends TypeError {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
    this.name = 'RequestTypeError';
  }
}

/** A request field outside its range; `param` names it, as in OpenAI's error object. */
export class RequestRangeError extends RangeError {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
    this.name = 'RequestRangeError';
  }
}

const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant'];

// Fields OpenAI accepts that this engine cannot honour; asking for them is an error rather than a
// silent no-op.
const UNSUPPORTED = ['tools', 'tool_choice', 'functions', 'function_call', 'logprobs', 'top_logprobs', 'response_format', 'logit_bias'];
// The same for /v1/completions (best_of 1, echo false and an empty suffix are their defaults).
const UNSUPPORTED_COMPLETION = ['best_of', 'echo', 'suffix'];

/**
 * A request value as an error message quotes it: short, whatever it is (a request may come from a
 * stranger over HTTP, with a megabyte string or an array nested a hundred thousand deep).
 */
function shown(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v !== null && typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  return String(v);
}

function finite(field: string, v: unknown, min: number, max: number, minExclusive = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (minExclusive && v === min)) {
    throw new RequestRangeError(`${field} must be a number in ${minExclusive ? '(' : '['}${min}, ${max}] (got ${shown(v)})`, field);
  }
  return v;
}

function positiveInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new RequestRangeError(`${field} must be a positive integer (got ${shown(v)})`, field);
  }
  return v;
}

function messageText(i: number, content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part, j) => {
        const p = part as Partial<ChatCompletionContentPartText>;
        if (!p || p.type !== 'text' || typeof p.text !== 'string') {
          throw new RequestTypeError(
            `messages[${i}].content[${j}] must be a text part {type: 'text', text} (got type ${shown(p?.type)})`,
            `messages[${i}].content[${j}]`,
          );
        }
        return p.text;
      })
      .join('');
  }
  throw new RequestTypeError(`messages[${i}].content must be a string or an array of text parts`, `messages[${i}].content`);
}

/** The sampling and length fields both endpoints share, checked, under the engine's names. */
function toEngineOptions(request: ChatCompletionRequestBase | CompletionRequest): GenerateOptions {
  const fields = request as unknown as Record<string, unknown>;
  for (const field of UNSUPPORTED) {
    const v = fields[field];
    if (v !== undefined && v !== null && v !== false) throw new RequestTypeError(`${field} is not supported by this engine`, field);
  }
  if (request.model != null && typeof request.model !== 'string') throw new RequestTypeError('model must be a string', 'model');
  if (fields.stream != null && typeof fields.stream !== 'boolean') throw new RequestTypeError('stream must be a boolean', 'stream');
  const so = request.stream_options;
  if (so != null && (typeof so !== 'object' || Array.isArray(so) || (so.include_usage != null && typeof so.include_usage !== 'boolean'))) {
    throw new RequestTypeError('stream_options must be an object {include_usage?: boolean}', 'stream_options');
  }
  const options: GenerateOptions = {};
  if (request.n != null && request.n !== 1)
    throw new RequestRangeError(`n must be 1: one choice per request (got ${shown(request.n)})`, 'n');
  if (request.temperature != null) options.temperature = finite('temperature', request.temperature, 0, 2);
  if (request.top_p != null) options.topP = finite('top_p', request.top_p, 0, 1, true);
  const maxCompletion = (request as ChatCompletionRequestBase).max_completion_tokens;
  const maxTokens = maxCompletion ?? request.max_tokens;
  if (maxTokens != null) options.maxTokens = positiveInt(maxCompletion != null ? 'max_completion_tokens' : 'max_tokens', maxTokens);
  if (request.seed != null) {
    if (!Number.isSafeInteger(request.seed)) throw new RequestRangeError(`seed must be an integer (got ${shown(request.seed)})`, 'seed');
    options.seed = request.seed;
  }
  if (request.frequency_penalty != null) options.frequencyPenalty = finite('frequency_penalty', request.frequency_penalty, -2, 2);
  if (request.presence_penalty != null) options.presencePenalty = finite('presence_penalty', request.presence_penalty, -2, 2);
  if (request.stop != null) {
    const stop = typeof request.stop === 'string' ? [request.stop] : request.stop;
    if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string' || s === '')) {
      throw new RequestTypeError('stop must be a non-empty string or an array of non-empty strings', 'stop');
    }
    if (stop.length) options.stop = stop;
  }
  return options;
}

function checkRequestObject(request: unknown): void {
  if (!request || typeof request !== 'object' || Array.isArray(request)) throw new RequestTypeError('the request must be an object', null);
}

/** Validates a request and turns it into the engine's messages and options. */
export function toEngineCall(request: ChatCompletionRequest): { messages: ChatMessage[]; options: GenerateOptions } {
  checkRequestObject(request);
  if (!Array.isArray(request.messages) || request.messages.length === 0) {
    throw new RequestTypeError('messages must be a non-empty array', 'messages');
  }
  const messages = request.messages.map((m, i): ChatMessage => {
    if (!m || typeof m !== 'object') throw new RequestTypeError(`messages[${i}] must be an object`, `messages[${i}]`);
    if (!ROLES.includes(m.role)) {
      throw new RequestTypeError(`messages[${i}].role must be one of ${ROLES.join(', ')} (got ${shown(m.role)})`, `messages[${i}].role`);
    }
    return { role: m.role, content: messageText(i, m.content) };
  });
  return { messages, options: toEngineOptions(request) };
}

/** Validates a /v1/completions request: its prompt (text, or token ids) and the engine's options. */
export function toCompletionCall(request: CompletionRequest): { prompt: string | number[]; options: GenerateOptions } {
  checkRequestObject(request);
  for (const field of UNSUPPORTED_COMPLETION) {
    const v = (request as unknown as Record<string, unknown>)[field];
    if (v !== undefined && v !== null && v !== false && v !== 1 && v !== '') {
      throw new RequestTypeError(`${field} is not supported by this engine`, field);
    }
  }
  let prompt: unknown = request.prompt;
  // One prompt per request (n=1): a one-element batch is that prompt.
  if (Array.isArray(prompt) && prompt.length === 1 && (typeof prompt[0] === 'string' || Array.isArray(prompt[0]))) prompt = prompt[0];
  const isTokens = Array.isArray(prompt) && prompt.length > 0 && prompt.every((t) => Number.isSafeInteger(t) && t >= 0);
  if (!(typeof prompt === 'string' && prompt !== '') && !isTokens) {
    throw new RequestTypeError('prompt must be a non-empty string or a non-empty array of token ids (one prompt per request)', 'prompt');
  }
  return { prompt: prompt as string | number[], options: toEngineOptions(request) };
}

export function finishReason(reason: FinishReason): ChatCompletionFinishReason {
  return reason === 'length' ? 'length' : reason === 'abort' ? 'abort' : 'stop';
}

export function usageOf(stats: GenerationStats): CompletionUsage {
  return {
    prompt_tokens: stats.promptTokens,
    completion_tokens: stats.generatedTokens,
    total_tokens: stats.promptTokens + stats.generatedTokens,
    extra: {
      prefill_tokens_per_s: stats.prefillTokensPerSec,
      decode_tokens_per_s: stats.decodeTokensPerSec,
      time_to_first_token_s: stats.timeToFirstTokenMs / 1000,
    },
  };
}

export function randomId(prefix: string): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return prefix + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Joins the caller's signal to one this module can fire when the consumer stops early. */
export function linkedController(signal: AbortSignal | undefined): AbortController {
  const controller = new AbortController();
  if (signal) {
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller;
}

/** Starts one generation; `signal` aborts it (the engine's chat/generate, or a server slot's run). */
export type StartGeneration = (signal: AbortSignal | undefined) => TokenStream;

/** A generation as text pieces, then how it ended; leaving early aborts it. */
async function* textPieces(start: StartGeneration, signal: AbortSignal | undefined): AsyncGenerator<string, GenerationStats> {
  const controller = linkedController(signal);
  const stream = start(controller.signal);
  let finished = false;
  try {
    for await (const token of stream) if (token.text) yield token.text;
    const stats = await stream.stats;
    finished = true;
    return stats;
  } finally {
    // The consumer left the loop before the end: stop generating.
    if (!finished) controller.abort();
  }
}

async function wholeText(start: StartGeneration, signal: AbortSignal | undefined): Promise<{ text: string; stats: GenerationStats }> {
  // Read to the end: nothing leaves early, so the caller's signal is the generation's own.
  const stream = start(signal);
  let text = '';
  for await (const token of stream) text += token.text;
  return { text, stats: await stream.stats };
}

/** The non-streaming chat.completion of one generation. */
export async function chatCompletion(start: StartGeneration, model: string, signal?: AbortSignal): Promise<ChatCompletion> {
  const { text, stats } = await wholeText(start, signal);
  return {
    id: randomId('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finishReason(stats.finishReason), logprobs: null }],
    usage: usageOf(stats),
  };
}

/**
 * The chat.completion.chunk stream of one generation: a role chunk, one chunk per piece of text,
 * a finish chunk and, with includeUsage, a usage chunk. The generation starts on the first next().
 */
export function chatCompletionChunks(
  start: StartGeneration,
  model: string,
  includeUsage: boolean,
  signal?: AbortSignal,
): AsyncIterable<ChatCompletionChunk> {
  const id = randomId('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: ChatCompletionFinishReason | null): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  });
  async function* run(): AsyncGenerator<ChatCompletionChunk> {
    yield chunk({ role: 'assistant', content: '' }, null);
    const stats = yield* mapPieces(textPieces(start, signal), (text) => chunk({ content: text }, null));
    yield chunk({}, finishReason(stats.finishReason));
    if (includeUsage) yield { ...chunk({}, null), choices: [], usage: usageOf(stats) };
  }
  return { [Symbol.asyncIterator]: () => run() };
}

/** The non-streaming text_completion of one generation. */
export async function textCompletion(start: StartGeneration, model: string, signal?: AbortSignal): Promise<TextCompletion> {
  const { text, stats } = await wholeText(start, signal);
  return {
    id: randomId('cmpl-'),
    object: 'text_completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, text, finish_reason: finishReason(stats.finishReason), logprobs: null }],
    usage: usageOf(stats),
  };
}

/** The streamed text_completion objects of one generation: one per piece of text, a finish one, usage if asked. */
export function textCompletionChunks(
  start: StartGeneration,
  model: string,
  includeUsage: boolean,
  signal?: AbortSignal,
): AsyncIterable<TextCompletion> {
  const id = randomId('cmpl-');
  const created = Math.floor(Date.now() / 1000);
  const chunk = (text: string, finish: ChatCompletionFinishReason | null): TextCompletion => ({
    id,
    object: 'text_completion',
    created,
    model,
    choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
  });
  async function* run(): AsyncGenerator<TextCompletion> {
    const stats = yield* mapPieces(textPieces(start, signal), (text) => chunk(text, null));
    yield chunk('', finishReason(stats.finishReason));
    if (includeUsage) yield { ...chunk('', null), choices: [], usage: usageOf(stats) };
  }
  return { [Symbol.asyncIterator]: () => run() };
}

/** Yields f(piece) for each piece and returns the generator's result (its stats). */
async function* mapPieces<T>(pieces: AsyncGenerator<string, GenerationStats>, f: (piece: string) => T): AsyncGenerator<T, GenerationStats> {
  try {
    for (;;) {
      const r = await pieces.next();
      if (r.done) return r.value;
      yield f(r.value);
    }
  } finally {
    await pieces.return(undefined as never);
  }
}

export function openaiClient(engine: LlmEngine): OpenAIClient {
  const model = () => engine.info.name;

  async function complete(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion> {
    const { messages, options } = toEngineCall(request);
    return chatCompletion((signal) => engine.chat(messages, { ...options, signal }), model(), request.signal);
  }

  function streamChunks(request: ChatCompletionRequestStreaming): AsyncIterable<ChatCompletionChunk> {
    // Validate before returning, so bad requests reject create() rather than the first next().
    const { messages, options } = toEngineCall(request);
    const includeUsage = Boolean(request.stream_options?.include_usage);
    return chatCompletionChunks((signal) => engine.chat(messages, { ...options, signal }), model(), includeUsage, request.signal);
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
