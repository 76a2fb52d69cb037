/**
 * A scripted LlmEngine for UI, worker-protocol and OpenAI-API tests (Node and browser): replies
 * are fixed token lists streamed with a delay, honouring maxTokens, stop strings and abort like the
 * real engine. No GPU, no model bytes.
 */
import type {
  ChatMessage,
  FinishReason,
  GeneratedToken,
  GenerateOptions,
  GenerationStats,
  LlmEngine,
  LoadOptions,
  LoadPhase,
  ModelInfo,
  ModelSource,
  TokenStream,
} from '../../src/engine/types.ts';

export interface FakeReply {
  tokens: string[];
  /** Milliseconds between tokens (default: the engine's delayMs). */
  delayMs?: number;
  promptTokens?: number;
  /** Throw `error` after this many tokens. */
  failAfter?: number;
  error?: Error;
}

export type FakeInput = { kind: 'chat'; messages: ChatMessage[] } | { kind: 'prompt'; prompt: string | number[] };

export interface FakeCall {
  input: FakeInput;
  options: Omit<GenerateOptions, 'signal'>;
}

export interface FakeEngineOptions {
  info?: Partial<ModelInfo>;
  delayMs?: number;
  reply?: (input: FakeInput, options: GenerateOptions) => FakeReply;
}

export const FAKE_INFO: ModelInfo = {
  name: 'fake-story-model',
  architecture: 'llama',
  parameters: 3_000_000,
  contextSize: 512,
  modelContextLength: 512,
  vocabSize: 512,
  fileBytes: 2_092_000,
  gpuBytes: { weights: 2_000_000, kvCache: 1_048_576, scratch: 65_536 },
  tensorTypes: { Q4_K: 20, Q6_K: 5, F32: 9 },
  hasChatTemplate: true,
  adapter: 'fake adapter',
};

// setTimeout(0) is clamped to 4 ms once nested; a zero delay yields through a MessageChannel
// instead, a real task (the page can render in between) with no clamp.
const yieldChannel = typeof MessageChannel !== 'undefined' ? new MessageChannel() : null;
const yieldQueue: (() => void)[] = [];
if (yieldChannel) {
  yieldChannel.port1.onmessage = () => yieldQueue.shift()?.();
  (yieldChannel.port1 as { unref?: () => void }).unref?.();
}
const sleep = (ms: number) =>
  new Promise<void>((r) => {
    if (ms > 0 || !yieldChannel) setTimeout(r, ms);
    else {
      yieldQueue.push(r);
      yieldChannel.port2.postMessage(0);
    }
  });

/** Splits text into word-ish tokens, keeping the spaces, like a BPE stream would. */
export function toTokens(text: string): string[] {
  return text.match(/\s*\S+|\s+/g) ?? [];
}

/** An async queue feeding one consumer. */
class Channel<T> {
  private items: T[] = [];
  private closed = false;
  private error: unknown;
  private wake: (() => void) | null = null;
  push(item: T) {
    this.items.push(item);
    this.wake?.();
  }
  close(error?: unknown) {
    this.closed = true;
    this.error = error;
    this.wake?.();
  }
  async *drain(onEarlyExit: () => void): AsyncGenerator<T> {
    let done = false;
    try {
      for (;;) {
        if (this.items.length) {
          yield this.items.shift()!;
          continue;
        }
        if (this.closed) {
          done = true;
          if (this.error !== undefined) throw this.error;
          return;
        }
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
      }
    } finally {
      if (!done) onEarlyExit();
    }
  }
}

export class FakeEngine implements LlmEngine {
  readonly info: ModelInfo;
  readonly calls: FakeCall[] = [];
  resets = 0;
  disposed = false;
  delayMs: number;
  reply: (input: FakeInput, options: GenerateOptions) => FakeReply;
  /** Set by loseDevice(): the running generation and every later call fail with it. */
  lostError: Error | null = null;
  private resolveLost!: (err: Error) => void;
  readonly lost = new Promise<Error>((resolve) => (this.resolveLost = resolve));

  constructor(options: FakeEngineOptions = {}) {
    this.info = { ...FAKE_INFO, ...options.info };
    this.delayMs = options.delayMs ?? 5;
    this.reply = options.reply ?? (() => ({ tokens: toTokens('Hello there! How can I help?') }));
  }

  generate(prompt: string | number[], options: GenerateOptions = {}): TokenStream {
    return this.run({ kind: 'prompt', prompt }, options);
  }

  chat(messages: ChatMessage[], options: GenerateOptions = {}): TokenStream {
    return this.run({ kind: 'chat', messages: messages.map((m) => ({ ...m })) }, options);
  }

  async countTokens(text: string): Promise<number> {
    return toTokens(text).length;
  }

  async reset(): Promise<void> {
    if (this.lostError) throw this.lostError;
    this.resets++;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }

  /** Acts out a GPU device loss, as the real engine reports it. */
  loseDevice(error: Error): void {
    if (this.lostError) return;
    this.lostError = error;
    this.resolveLost(error);
  }

  private run(input: FakeInput, options: GenerateOptions): TokenStream {
    if (this.disposed) throw new DOMException('engine disposed', 'InvalidStateError');
    if (this.lostError) throw this.lostError;
    const { signal, ...rest } = options;
    this.calls.push({ input, options: rest });
    const reply = this.reply(input, options);
    const delay = reply.delayMs ?? this.delayMs;
    const channel = new Channel<GeneratedToken>();
    const local = new AbortController();
    const aborted = () => local.signal.aborted || Boolean(signal?.aborted);
    const promptText = input.kind === 'chat' ? input.messages.map((m) => m.content).join(' ') : String(input.prompt);
    const promptTokens = reply.promptTokens ?? toTokens(promptText).length;

    const stats = (async (): Promise<GenerationStats> => {
      const start = performance.now();
      let firstAt = 0;
      let generated = 0;
      let pending = '';
      let finish: FinishReason = 'eos';
      try {
        for (let i = 0; i < reply.tokens.length; i++) {
          await sleep(delay);
          if (this.lostError) throw this.lostError;
          if (aborted()) {
            finish = 'abort';
            break;
          }
          if (reply.failAfter !== undefined && i >= reply.failAfter) throw reply.error ?? new Error('fake failure');
          if (options.maxTokens !== undefined && generated >= options.maxTokens) {
            finish = 'length';
            break;
          }
          // Like the real engine: text that might begin a stop string is held back until it
          // either completes the stop string (and is dropped) or cannot any more.
          const stops = options.stop ?? [];
          pending += reply.tokens[i];
          const hits = stops.map((s) => pending.indexOf(s)).filter((k) => k >= 0);
          if (hits.length) {
            const piece = pending.slice(0, Math.min(...hits));
            if (piece) channel.push({ id: 1000 + i, text: piece });
            pending = '';
            finish = 'stop';
            break;
          }
          let hold = 0;
          for (const s of stops) {
            for (let k = Math.min(s.length - 1, pending.length); k > hold; k--) {
              if (pending.endsWith(s.slice(0, k))) {
                hold = k;
                break;
              }
            }
          }
          const piece = pending.slice(0, pending.length - hold);
          pending = pending.slice(pending.length - hold);
          generated++;
          if (!firstAt) firstAt = performance.now();
          channel.push({ id: 1000 + i, text: piece });
        }
      } catch (err) {
        channel.close(err);
        throw err;
      }
      if (pending && finish !== 'abort') channel.push({ id: 999, text: pending });
      channel.close();
      const elapsed = Math.max(performance.now() - (firstAt || start), 1) / 1000;
      return {
        promptTokens,
        generatedTokens: generated,
        prefillTokensPerSec: promptTokens / 0.01,
        decodeTokensPerSec: generated / elapsed,
        timeToFirstTokenMs: firstAt ? firstAt - start : 0,
        finishReason: finish,
      };
    })();
    stats.catch(() => undefined);
    return {
      stats,
      [Symbol.asyncIterator]: () => channel.drain(() => local.abort()),
    };
  }
}

export interface FakeLoaderOptions {
  engine?: FakeEngine | (() => FakeEngine);
  totalBytes?: number;
  /** Progress steps per phase. */
  steps?: number;
  stepMs?: number;
  /** Reject with this after the download phase. */
  error?: Error;
  /** Stop at this fraction of the download and wait until aborted (for progress screenshots). */
  holdAt?: number;
}

/** A loader like EngineWorker.load: reports download/upload/compile progress, then resolves. */
export function fakeLoader(options: FakeLoaderOptions = {}) {
  const sources: ModelSource[] = [];
  const load = async (source: ModelSource, loadOptions: LoadOptions = {}): Promise<LlmEngine> => {
    sources.push(source);
    const total = options.totalBytes ?? 105_454_432;
    const steps = options.steps ?? 5;
    const stepMs = options.stepMs ?? 10;
    const t0 = performance.now();
    const phases: LoadPhase[] = ['download', 'upload', 'compile'];
    for (const phase of phases) {
      for (let i = 1; i <= steps; i++) {
        await sleep(stepMs);
        loadOptions.signal?.throwIfAborted();
        const frac = i / steps;
        if (phase === 'download' && options.holdAt !== undefined && frac >= options.holdAt) {
          const done = Math.round(total * options.holdAt);
          loadOptions.onProgress?.({ phase, bytesDone: done, bytesTotal: total, rate: 4_200_000, etaSeconds: (total - done) / 4_200_000 });
          await new Promise<void>((_, reject) => {
            const signal = loadOptions.signal;
            if (!signal) return;
            signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          });
        }
        const done = Math.round(total * frac);
        const secs = Math.max((performance.now() - t0) / 1000, 0.001);
        loadOptions.onProgress?.({
          phase,
          bytesDone: done,
          bytesTotal: total,
          rate: done / secs,
          etaSeconds: (total - done) / (done / secs),
        });
      }
      if (phase === 'download' && options.error) throw options.error;
    }
    const e = options.engine;
    return typeof e === 'function' ? e() : (e ?? new FakeEngine());
  };
  return Object.assign(load, { sources });
}
