/**
 * The worker side of the engine protocol (see protocol.ts), independent of which engine runs
 * behind it: `serveEngine(endpoint, backend)` answers requests arriving on `endpoint` (a worker's
 * global scope, or a MessagePort in tests) with the engine `backend` loads.
 *
 * One model is loaded at a time. Generations, resets and unloads run one after another in arrival
 * order (the GPU runs one decode loop); loading a new model aborts what the old one was doing,
 * and the old one is disposed only once the new one is ready (a failed load leaves it in place).
 */
import { probeWebGpu } from '../gpu/device.ts';
import type { CachedModel, GeneratedToken, GenerationStats, LlmEngine, LoadOptions, LoadProgress, ModelSource } from './types.ts';
import {
  isAbortError,
  serializeError,
  type DeviceProbe,
  type PageToWorker,
  type Request,
  type RequestResults,
  type WorkerToPage,
} from './protocol.ts';

/** What the host needs from the engine and the model store. */
export interface EngineBackend {
  load(source: ModelSource, options: LoadOptions): Promise<LlmEngine>;
  listModels(): Promise<CachedModel[]>;
  deleteModel(id: string): Promise<void>;
  /** Defaults to asking `navigator.gpu` for an adapter (no device is created). */
  probe?(): Promise<DeviceProbe>;
}

export interface MessageEndpoint {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
  /** MessagePorts need start() when listened to with addEventListener. */
  start?(): void;
}

/** Progress messages are rate-limited to this interval, except phase changes and completion. */
const PROGRESS_INTERVAL_MS = 50;

function noModel(): DOMException {
  return new DOMException('No model is loaded: load one before generating', 'InvalidStateError');
}

function abortedStats(generatedTokens: number): GenerationStats {
  return {
    promptTokens: 0,
    generatedTokens,
    prefillTokensPerSec: 0,
    decodeTokensPerSec: 0,
    timeToFirstTokenMs: 0,
    finishReason: 'abort',
  };
}

export function serveEngine(endpoint: MessageEndpoint, backend: EngineBackend): { close(): void } {
  let engine: LlmEngine | null = null;
  /** The load in flight, if any; a newer load aborts it. */
  let currentLoad: AbortController | null = null;
  /** Serializes work on the loaded engine (generate, reset, unload, load's dispose). */
  let queue: Promise<unknown> = Promise.resolve();
  /** Abort controllers of loads and generations that have not ended, by request id. */
  const controllers = new Map<number, AbortController>();
  /** Ids of generations not yet ended, so a load or unload can abort them all. */
  const generations = new Set<number>();

  const post = (msg: WorkerToPage) => endpoint.postMessage(msg);

  function enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  }

  function abortGenerations(): void {
    for (const id of generations) controllers.get(id)?.abort();
  }

  async function disposeEngine(): Promise<void> {
    const old = engine;
    engine = null;
    if (old) await old.dispose();
  }

  async function load(id: number, req: Extract<Request, { type: 'load' }>): Promise<RequestResults['load']> {
    const { source, contextSize, limits, maxGpuBytes, activations, autotune } = req;
    currentLoad?.abort();
    const controller = new AbortController();
    currentLoad = controller;
    controllers.set(id, controller);
    abortGenerations();
    controller.signal.throwIfAborted();
    let lastPost = 0;
    let lastPhase = '';
    const onProgress = (p: LoadProgress) => {
      const now = Date.now();
      const final = p.bytesTotal > 0 && p.bytesDone >= p.bytesTotal;
      // A retry notice is one report before a wait: never drop it.
      if (p.phase === lastPhase && !final && !p.retry && now - lastPost < PROGRESS_INTERVAL_MS) return;
      lastPost = now;
      lastPhase = p.phase;
      post({ type: 'progress', id, progress: { ...p } });
    };
    const loaded = await backend.load(source, {
      contextSize,
      limits,
      maxGpuBytes,
      activations,
      autotune,
      signal: controller.signal,
      onProgress,
    });
    if (controller.signal.aborted) {
      // Superseded while the backend was finishing: nobody wants this engine any more.
      await loaded.dispose();
      controller.signal.throwIfAborted();
    }
    // The previous model stayed usable until now, so a failed or cancelled switch leaves it running.
    await enqueue(async () => {
      await disposeEngine();
      engine = loaded;
    });
    if (currentLoad === controller) currentLoad = null;
    // Tell the page at once, even while idle: otherwise it shows "ready" on a dead engine.
    loaded.lost?.then((err) => {
      if (engine === loaded) post({ type: 'lost', id, error: serializeError(err) });
    });
    return loaded.info;
  }

  async function generate(id: number, req: Extract<Request, { type: 'generate' }>): Promise<GenerationStats> {
    const controller = new AbortController();
    controllers.set(id, controller);
    generations.add(id);
    return enqueue(async () => {
      if (controller.signal.aborted) return abortedStats(0);
      const active = engine;
      if (!active) throw noModel();
      const options = { ...req.options, signal: controller.signal };
      const stream = req.input.kind === 'chat' ? active.chat(req.input.messages, options) : active.generate(req.input.prompt, options);
      let count = 0;
      try {
        for await (const token of stream) {
          count++;
          const wire: GeneratedToken = { id: token.id, text: token.text, ...(token.top ? { top: token.top } : {}) };
          post({ type: 'tokens', id, tokens: [wire] });
        }
        return await stream.stats;
      } catch (err) {
        if (controller.signal.aborted && isAbortError(err)) {
          return stream.stats.then(
            (s) => s,
            () => abortedStats(count),
          );
        }
        throw err;
      }
    }).finally(() => generations.delete(id));
  }

  async function handle(req: Request): Promise<unknown> {
    switch (req.type) {
      case 'load':
        return load(req.id, req);
      case 'generate':
        return generate(req.id, req);
      case 'countTokens':
        if (!engine) throw noModel();
        return engine.countTokens(req.text);
      case 'reset':
        return enqueue(async () => {
          if (!engine) throw noModel();
          await engine.reset();
        });
      case 'unload':
        currentLoad?.abort();
        abortGenerations();
        return enqueue(disposeEngine);
      case 'listModels':
        return backend.listModels();
      case 'deleteModel':
        return backend.deleteModel(req.modelId);
      case 'probe':
        return backend.probe ? backend.probe() : probeWebGpu();
      default: {
        const unknown: never = req;
        throw new TypeError(`unknown request type ${JSON.stringify((unknown as { type: unknown }).type)}`);
      }
    }
  }

  const onMessage = (ev: MessageEvent) => {
    const msg = ev.data as PageToWorker;
    if (!msg || typeof msg !== 'object' || typeof msg.id !== 'number') return;
    if (msg.type === 'abort') {
      controllers.get(msg.id)?.abort();
      return;
    }
    handle(msg)
      .then(
        (value) => post({ type: 'result', id: msg.id, value }),
        (err) => post({ type: 'error', id: msg.id, error: serializeError(err) }),
      )
      .finally(() => controllers.delete(msg.id));
  };

  endpoint.addEventListener('message', onMessage);
  endpoint.start?.();
  return {
    close() {
      endpoint.removeEventListener('message', onMessage);
      currentLoad?.abort();
      abortGenerations();
    },
  };
}
