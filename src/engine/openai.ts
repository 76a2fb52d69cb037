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
import type { ChatMessage, FinishReason, GenerateOptions, GenerationStats, LlmEngine } from './types.ts';

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

export interface ChatCompletions {
  create(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion>;
  create(request: ChatCompletionRequestStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

export interface OpenAIClient {
  chat: { completions: ChatCompletions };
}

const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant'];

// Fields OpenAI accepts that this engine cannot honour; asking for them is an error rather than a
// silent no-op.
const UNSUPPORTED = ['tools', 'tool_choice', 'functions', 'function_call', 'logprobs', 'top_logprobs', 'response_format', 'logit_bias'];

function finite(field: string, v: unknown, min: number, max: number, minExclusive = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (minExclusive && v === min)) {
    throw new RangeError(`${field} must be a number in ${minExclusive ? '(' : '['}${min}, ${max}] (got ${JSON.stringify(v)})`);
  }
  return v;
}

function positiveInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`${field} must be a positive integer (got ${JSON.stringify(v)})`);
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
          throw new TypeError(
            `messages[${i}].content[${j}] must be a text part {type: 'text', text} (got type ${JSON.stringify(p?.type)})`,
          );
        }
        return p.text;
      })
      .join('');
  }
  throw new TypeError(`messages[${i}].content must be a string or an array of text parts`);
}

/** Validates a request and turns it into the engine's messages and options. */
export function toEngineCall(request: ChatCompletionRequest): { messages: ChatMessage[]; options: GenerateOptions } {
  if (!request || typeof request !== 'object') throw new TypeError('the request must be an object');
  for (const field of UNSUPPORTED) {
    const v = (request as unknown as Record<string, unknown>)[field];
    if (v !== undefined && v !== null && v !== false) throw new TypeError(`${field} is not supported by this engine`);
  }
  if (!Array.isArray(request.messages) || request.messages.length === 0) {
    throw new TypeError('messages must be a non-empty array');
  }
  const messages = request.messages.map((m, i): ChatMessage => {
    if (!m || typeof m !== 'object') throw new TypeError(`messages[${i}] must be an object`);
    if (!ROLES.includes(m.role)) {
      throw new TypeError(`messages[${i}].role must be one of ${ROLES.join(', ')} (got ${JSON.stringify(m.role)})`);
    }
    return { role: m.role, content: messageText(i, m.content) };
  });
  const options: GenerateOptions = {};
  if (request.n != null && request.n !== 1) throw new RangeError(`n must be 1: one choice per request (got ${request.n})`);
  if (request.temperature != null) options.temperature = finite('temperature', request.temperature, 0, 2);
  if (request.top_p != null) options.topP = finite('top_p', request.top_p, 0, 1, true);
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null)
    options.maxTokens = positiveInt(request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens', maxTokens);
  if (request.seed != null) {
    if (!Number.isSafeInteger(request.seed)) throw new RangeError(`seed must be an integer (got ${JSON.stringify(request.seed)})`);
    options.seed = request.seed;
  }
  if (request.frequency_penalty != null) options.frequencyPenalty = finite('frequency_penalty', request.frequency_penalty, -2, 2);
  if (request.presence_penalty != null) options.presencePenalty = finite('presence_penalty', request.presence_penalty, -2, 2);
  if (request.stop != null) {
    const stop = typeof request.stop === 'string' ? [request.stop] : request.stop;
    if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string' || s === '')) {
      throw new TypeError('stop must be a non-empty string or an array of non-empty strings');
    }
    if (stop.length) options.stop = stop;
  }
  return { messages, options };
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

export function completionId(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return 'chatcmpl-' + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
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

export function openaiClient(engine: LlmEngine): OpenAIClient {
  const model = () => engine.info.name;

  async function complete(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion> {
    const { messages, options } = toEngineCall(request);
    const stream = engine.chat(messages, { ...options, signal: request.signal });
    let content = '';
    for await (const token of stream) content += token.text;
    const stats = await stream.stats;
    return {
      id: completionId(),
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: model(),
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finishReason(stats.finishReason), logprobs: null }],
      usage: usageOf(stats),
    };
  }

  function streamChunks(request: ChatCompletionRequestStreaming): AsyncIterable<ChatCompletionChunk> {
    // Validate before returning, so bad requests reject create() rather than the first next().
    const { messages, options } = toEngineCall(request);
    const includeUsage = Boolean(request.stream_options?.include_usage);
    const id = completionId();
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: ChatCompletionFinishReason | null): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: model(),
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    });
    async function* run(): AsyncGenerator<ChatCompletionChunk> {
      const controller = linkedController(request.signal);
      const stream = engine.chat(messages, { ...options, signal: controller.signal });
      let finished = false;
      try {
        yield chunk({ role: 'assistant', content: '' }, null);
        for await (const token of stream) {
          if (token.text) yield chunk({ content: token.text }, null);
        }
        const stats = await stream.stats;
        finished = true;
        yield chunk({}, finishReason(stats.finishReason));
        if (includeUsage) yield { ...chunk({}, null), choices: [], usage: usageOf(stats) };
      } finally {
        // The consumer left the loop before the end: stop generating.
        if (!finished) controller.abort();
      }
    }
    return { [Symbol.asyncIterator]: () => run() };
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
