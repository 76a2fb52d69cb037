/**
 * The page side of the engine worker: `EngineWorker` sends requests over the protocol in
 * protocol.ts, and `load()` returns an `LlmEngine` whose calls run in the worker. Errors thrown in
 * the worker are re-thrown here as the same classes (src/errors.ts), so `instanceof
 * WebGPUUnavailableError` works on the page. The page never touches the GPU or parses model bytes.
 */
import {
  deserializeError,
  type DeviceProbe,
  type GenerateInput,
  type PageToWorker,
  type RequestArgs,
  type RequestResults,
  type RequestType,
  type WireGenerateOptions,
  type WorkerToPage,
} from './protocol.ts';
import type {
  CachedModel,
  ChatMessage,
  GeneratedToken,
  GenerateOptions,
  LlmEngine,
  LoadOptions,
  LoadProgress,
  ModelInfo,
  ModelSource,
  TokenStream,
} from './types.ts';
import { TokenQueue } from './token-queue.ts';

/** A Worker, or a MessagePort in tests. */
export interface WorkerEndpoint {
  postMessage(message: unknown): void;
  addEventListener(type: string, listener: (ev: Event) => void): void;
  removeEventListener(type: string, listener: (ev: Event) => void): void;
  start?(): void;
  terminate?(): void;
}

interface CallHooks {
  signal?: AbortSignal;
  onProgress?: (p: LoadProgress) => void;
  onTokens?: (t: GeneratedToken[]) => void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  onProgress?(p: LoadProgress): void;
  onTokens?(tokens: GeneratedToken[]): void;
}

function stoppedError(detail: string): Error {
  return new DOMException(`The engine worker stopped: ${detail}`, 'InvalidStateError');
}

export class EngineWorker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private current: WorkerEngine | null = null;
  private stopped: Error | null = null;
  private readonly onMessage = (ev: Event) => this.dispatch((ev as MessageEvent).data as WorkerToPage);
  private readonly onError = (ev: Event) => {
    const message = (ev as ErrorEvent).message || 'the worker script failed to load or threw';
    this.fail(stoppedError(message));
  };

  constructor(private readonly endpoint: WorkerEndpoint) {
    endpoint.addEventListener('message', this.onMessage);
    endpoint.addEventListener('error', this.onError);
    endpoint.addEventListener('messageerror', this.onError);
    endpoint.start?.();
  }

  /** The engine of the last successful load, until the next load or unload. */
  get engine(): LlmEngine | null {
    return this.current;
  }

  /**
   * Loads a model in the worker (downloading it into the model store first when needed) and
   * returns an engine for it. A previous engine from this worker is disposed once the new one is
   * ready; until then (and for good when the load fails or is aborted) it keeps working.
   */
  async load(source: ModelSource, options: LoadOptions = {}): Promise<LlmEngine> {
    const { id: loadId, result } = this.start(
      'load',
      {
        source,
        contextSize: options.contextSize,
        limits: options.limits,
        maxGpuBytes: options.maxGpuBytes,
        activations: options.activations,
        autotune: options.autotune,
      },
      {
        signal: options.signal,
        onProgress: options.onProgress,
      },
    );
    const info = await result;
    const engine = new WorkerEngine(this, info, loadId);
    this.current?.markDisposed();
    this.current = engine;
    return engine;
  }

  listModels(): Promise<CachedModel[]> {
    return this.call('listModels', {});
  }

  deleteModel(modelId: string): Promise<void> {
    return this.call('deleteModel', { modelId });
  }

  /** WebGPU availability and limits as the worker sees them (no device is created). */
  probe(): Promise<DeviceProbe> {
    return this.call('probe', {});
  }

  /** Frees the loaded model's GPU memory; the worker stays up for the next load. */
  async unload(): Promise<void> {
    this.current?.markDisposed();
    this.current = null;
    await this.call('unload', {});
  }

  /** Stops the worker; pending calls reject. */
  terminate(): void {
    this.fail(stoppedError('terminated'));
    this.endpoint.terminate?.();
  }

  /** @internal */
  call<K extends RequestType>(type: K, args: RequestArgs[K], hooks: CallHooks = {}): Promise<RequestResults[K]> {
    return this.start(type, args, hooks).result;
  }

  /** @internal Sends a request; `id` (−1 when it was never sent) names it for abort(). */
  start<K extends RequestType>(type: K, args: RequestArgs[K], hooks: CallHooks = {}): { id: number; result: Promise<RequestResults[K]> } {
    if (this.stopped) return { id: -1, result: Promise.reject(this.stopped) };
    const { signal } = hooks;
    if (signal?.aborted) return { id: -1, result: Promise.reject(signal.reason ?? new DOMException('aborted', 'AbortError')) };
    const id = this.nextId++;
    const result = new Promise<RequestResults[K]>((resolve, reject) => {
      const onAbort = () => this.abort(id);
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (v) => {
          settle();
          resolve(v as RequestResults[K]);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
        onProgress: hooks.onProgress,
        onTokens: hooks.onTokens,
      });
      this.endpoint.postMessage({ type, id, ...args } as PageToWorker);
    });
    return { id, result };
  }

  /** @internal Asks the worker to abort request `id` if it is still running. */
  abort(id: number): void {
    if (this.pending.has(id)) this.endpoint.postMessage({ type: 'abort', id } satisfies PageToWorker);
  }

  private dispatch(msg: WorkerToPage): void {
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'fatal') {
      this.fail(deserializeError(msg.error));
      return;
    }
    if (msg.type === 'lost') {
      if (this.current?.loadId === msg.id) this.current.markLost(deserializeError(msg.error));
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    switch (msg.type) {
      case 'progress':
        p.onProgress?.(msg.progress);
        break;
      case 'tokens':
        p.onTokens?.(msg.tokens);
        break;
      case 'result':
        this.pending.delete(msg.id);
        p.resolve(msg.value);
        break;
      case 'error':
        this.pending.delete(msg.id);
        p.reject(deserializeError(msg.error));
        break;
    }
  }

  private fail(err: Error): void {
    this.stopped = err;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
    this.current?.markDisposed();
    this.current = null;
    this.endpoint.removeEventListener('message', this.onMessage);
  }
}

/** An LlmEngine whose work runs in the worker. */
class WorkerEngine implements LlmEngine {
  private disposed = false;
  /** Set when the worker reported the engine's GPU device lost: later calls fail with it. */
  private lostError: Error | null = null;
  private resolveLost!: (err: Error) => void;
  readonly lost = new Promise<Error>((resolve) => (this.resolveLost = resolve));

  constructor(
    private readonly worker: EngineWorker,
    readonly info: ModelInfo,
    /** The id of the load request that made this engine (the worker's 'lost' message names it). */
    readonly loadId: number,
  ) {}

  markDisposed(): void {
    this.disposed = true;
  }

  markLost(err: Error): void {
    if (this.lostError) return;
    this.lostError = err;
    this.resolveLost(err);
  }

  private check(): void {
    if (this.disposed) throw new DOMException(`The engine for ${this.info.name} was disposed`, 'InvalidStateError');
    if (this.lostError) throw this.lostError;
  }

  generate(prompt: string | number[], options: GenerateOptions = {}): TokenStream {
    return this.stream({ kind: 'prompt', prompt }, options);
  }

  chat(messages: ChatMessage[], options: GenerateOptions = {}): TokenStream {
    return this.stream({ kind: 'chat', messages }, options);
  }

  async countTokens(text: string): Promise<number> {
    this.check();
    return this.worker.call('countTokens', { text });
  }

  async reset(): Promise<void> {
    this.check();
    await this.worker.call('reset', {});
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.worker.unload();
  }

  private stream(input: GenerateInput, options: GenerateOptions): TokenStream {
    this.check();
    const { signal, ...rest } = options;
    const wireOptions: WireGenerateOptions = rest;
    const queue = new TokenQueue();
    const { id, result: stats } = this.worker.start(
      'generate',
      { input, options: wireOptions },
      { signal, onTokens: (t) => queue.push(...t) },
    );
    stats.then(
      () => queue.end(),
      (err) => queue.end(err),
    );
    // Callers that only iterate still see the error there; this keeps an unobserved stats
    // promise from being reported as an unhandled rejection.
    stats.catch(() => undefined);
    const worker = this.worker;
    return {
      stats,
      // Leaving a for-await loop early (break, throw) stops the generation in the worker.
      [Symbol.asyncIterator]: () => queue.iterator(() => worker.abort(id)),
    };
  }
}
