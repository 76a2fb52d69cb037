/**
 * The engine lifecycle of <llm-chat>, as a Lit ReactiveController: which engine runs (one handed
 * to the element, one loaded from a source by a loader or by the element's own Web Worker, or a
 * RemoteEngine connected to an OpenAI-compatible server in endpoint mode), the
 * load with its progress, one generation at a time with abort, a lost GPU device, and teardown when
 * the element leaves the document. The element keeps the conversation and the templates.
 *
 * It dispatches llm-ready, llm-progress and llm-error (load, and a device lost between
 * generations) on its host; the element dispatches the generation events.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { EngineWorker } from '../engine/worker-client.ts';
import type { LlmEngine, LoadOptions, LoadProgress, ModelInfo, ModelSource } from '../engine/types.ts';
import { RemoteEngine, type RemoteOptions } from '../engine/remote.ts';
import { describeError, type ErrorText } from './error-text.ts';
import { spawnEngineWorker } from './spawn-worker.ts';

export type ChatState = 'idle' | 'loading' | 'ready' | 'generating' | 'error';
export type EngineLoader = (source: ModelSource, options: LoadOptions) => Promise<LlmEngine>;

export interface LlmReadyDetail {
  info: ModelInfo;
  /** Where the ready engine came from (null for an engine handed to the element, and for a server). */
  source: ModelSource | null;
  /** The API base URL of the OpenAI-compatible server replies come from (endpoint mode, or a RemoteEngine handed in); else null. */
  endpoint: string | null;
}
export interface LlmProgressDetail {
  progress: LoadProgress;
}
export interface LlmErrorDetail {
  error: Error;
  /**
   * 'load': the model could not be loaded; 'generate': a reply failed; 'idle': the engine died
   * between replies (its GPU device was lost).
   */
  during: 'load' | 'generate' | 'idle';
}

/** What the controller reads from its element each time it (re)starts an engine. */
export interface EngineConfig {
  /** An engine to use as is (never disposed by the controller). */
  engine: LlmEngine | null;
  source: ModelSource | null;
  loader: EngineLoader | null;
  contextSize: number | undefined;
  /** Endpoint mode: the server to stream from instead of loading `source` (which is then ignored). */
  remote: RemoteOptions | null;
}

/** Why no engine runs, and what the user can do about it. */
export interface EngineFailure {
  error: ErrorText;
  /** 'retry' a failed load; 'reload' a model whose GPU device was lost; null: nothing here can help. */
  action: 'retry' | 'reload' | null;
  /** The model that still runs after a failed switch (see back()), if any. */
  previous: ModelInfo | null;
}

/** A generation that failed with DeviceLostError waits this long for the engine's `lost` to settle. */
const LOSS_SETTLE_MS = 1000;

export function toError(e: unknown): Error {
  return e instanceof Error || e instanceof DOMException ? (e as Error) : new Error(String(e));
}

/** Dispatches a bubbling, composed CustomEvent (it crosses the shadow root). */
export function emit<T>(target: EventTarget, type: string, detail: T): void {
  target.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true }));
}

export class EngineController implements ReactiveController {
  private currentState: ChatState = 'idle';
  private currentProgress: LoadProgress | null = null;
  private currentFailure: EngineFailure | null = null;
  /**
   * The loaded engine. It stays loaded while another model loads, and after that load fails or is
   * cancelled, so a failed switch can go back to it.
   */
  private active: LlmEngine | null = null;
  private activeSource: ModelSource | null = null;
  /** True when `active` came from a load by this controller (so it is disposed on replacement). */
  private ownsActive = false;
  /** The DeviceLostError of the active engine, once its device is gone. */
  private lostError: Error | null = null;
  private ownWorker: EngineWorker | null = null;
  private loadController: AbortController | null = null;
  private generation: AbortController | null = null;
  private teardownTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly host: ReactiveControllerHost & HTMLElement,
    private readonly config: () => EngineConfig,
  ) {
    host.addController(this);
  }

  get state(): ChatState {
    return this.currentState;
  }
  get progress(): LoadProgress | null {
    return this.currentProgress;
  }
  get failure(): EngineFailure | null {
    return this.currentFailure;
  }
  /** The engine replies come from, once ready (during a load or after a failed one: the previous model, if any). */
  get engine(): LlmEngine | null {
    return this.active;
  }
  /** Where the loaded engine came from. */
  get source(): ModelSource | null {
    return this.activeSource;
  }
  /** The server the engine streams from, when it is a RemoteEngine. */
  get endpoint(): string | null {
    return this.active instanceof RemoteEngine ? this.active.endpoint : null;
  }

  hostConnected(): void {
    clearTimeout(this.teardownTimer);
  }

  hostDisconnected(): void {
    // Moving the element in the DOM disconnects and reconnects it at once: only tear down (stop
    // the worker, free the GPU) when it stays out of the document.
    this.teardownTimer = setTimeout(() => {
      if (!this.host.isConnected) this.teardown();
    }, 0);
  }

  /** (Re)loads the configured source, or adopts the configured engine. Resolves when ready (or failed). */
  async load(): Promise<void> {
    const { engine, source, loader, contextSize, remote } = this.config();
    if (engine) return this.adopt();
    this.stop();
    this.loadController?.abort();
    if (!source && !remote) {
      this.loadController = null;
      await this.releaseActive();
      this.set('idle', null, null);
      return;
    }
    const controller = new AbortController();
    this.loadController = controller;
    this.set('loading', null, null);
    const load = loader ?? ((s: ModelSource, o: LoadOptions) => (this.ownWorker ??= spawnEngineWorker()).load(s, o));
    const options: LoadOptions = {
      contextSize,
      signal: controller.signal,
      onProgress: (progress) => {
        if (controller.signal.aborted) return;
        this.set('loading', progress, null);
        emit<LlmProgressDetail>(this.host, 'llm-progress', { progress });
      },
    };
    // A server is connected to, not loaded: no worker starts and no progress comes.
    const from = remote ? null : source;
    try {
      const loaded = remote ? await RemoteEngine.connect(remote, controller.signal) : await load(source!, options);
      if (controller.signal.aborted) {
        await loaded.dispose();
        return;
      }
      await this.releaseActive();
      this.use(loaded, true, from);
      this.set('ready', null, null);
      emit<LlmReadyDetail>(this.host, 'llm-ready', { info: loaded.info, source: from, endpoint: this.endpoint });
    } catch (e) {
      if (controller.signal.aborted) return;
      const error = toError(e);
      this.set('error', null, { error: describeError(error), action: 'retry', previous: this.usablePrevious()?.info ?? null });
      emit<LlmErrorDetail>(this.host, 'llm-error', { error, during: 'load' });
    } finally {
      if (this.loadController === controller) this.loadController = null;
    }
  }

  /** Switches to the configured engine (or, when there is none, to the configured source or server). */
  async adopt(): Promise<void> {
    this.stop();
    this.loadController?.abort();
    this.loadController = null;
    await this.releaseActive();
    const { engine, source, remote } = this.config();
    if (engine) {
      this.use(engine, false, null);
      this.set('ready', null, null);
      emit<LlmReadyDetail>(this.host, 'llm-ready', { info: engine.info, source: null, endpoint: this.endpoint });
    } else {
      this.set('idle', null, null);
      if (source || remote) await this.load();
    }
  }

  /** Stops a model download/load in progress; the model loaded before it, if any, is ready again. */
  cancelLoad(): void {
    if (!this.loadController) return;
    this.loadController.abort();
    this.loadController = null;
    if (!this.back()) this.set('idle', null, null);
  }

  /**
   * After a failed or cancelled switch: makes the model that was loaded before it ready again (it
   * never stopped running). Returns false when there is none (or its GPU device was lost).
   */
  back(): boolean {
    const previous = this.usablePrevious();
    if (!previous || this.loadController) return false;
    this.set('ready', null, null);
    emit<LlmReadyDetail>(this.host, 'llm-ready', { info: previous.info, source: this.activeSource, endpoint: this.endpoint });
    return true;
  }

  private usablePrevious(): LlmEngine | null {
    return this.active && !this.lostError ? this.active : null;
  }

  /** The engine, when it is ready for a generation; else an InvalidStateError. */
  readyEngine(): LlmEngine {
    if (this.currentState !== 'ready' || !this.active) {
      throw new DOMException(`<llm-chat> cannot send while ${this.currentState}`, 'InvalidStateError');
    }
    return this.active;
  }

  /** Runs one generation on the ready engine: the state is 'generating' until `work` settles. */
  async generate<T>(work: (engine: LlmEngine, signal: AbortSignal) => Promise<T>): Promise<T> {
    const engine = this.readyEngine();
    const controller = new AbortController();
    this.generation = controller;
    this.set('generating', null, null);
    let failed = false;
    try {
      return await work(engine, controller.signal);
    } catch (e) {
      failed = true;
      // The stream can fail a moment before the engine's `lost` settles (the worker's two
      // messages race): wait for it, so the loss shows as a loss rather than as one failed reply.
      if (engine.lost && !this.lostError && (e as { name?: unknown })?.name === 'DeviceLostError') {
        await Promise.race([engine.lost, new Promise((r) => setTimeout(r, LOSS_SETTLE_MS))]);
      }
      throw e;
    } finally {
      if (this.generation === controller) this.generation = null;
      // A failed reply reports the loss itself (llm-error, during 'generate').
      if (this.lostError && this.active === engine) this.showLost(this.lostError, !failed);
      else if (this.state === 'generating') this.set(this.active ? 'ready' : 'idle', null, null);
    }
  }

  /** Stops the reply being generated. */
  stop(): void {
    this.generation?.abort();
  }

  /** Clears the engine's conversation state (its KV cache). */
  async reset(): Promise<void> {
    this.stop();
    await this.active?.reset().catch(() => undefined);
  }

  private use(engine: LlmEngine, owned: boolean, source: ModelSource | null): void {
    this.active = engine;
    this.activeSource = source;
    this.ownsActive = owned;
    this.lostError = null;
    engine.lost?.then((err) => {
      if (this.active !== engine) return;
      this.lostError = err;
      // Mid-generation, the failing reply reports it (see generate()); while another model
      // loads, that load decides what shows (this engine is just no longer one to go back to).
      if (this.state !== 'generating' && !this.loadController) this.showLost(err, true);
    });
  }

  private showLost(err: Error, report: boolean): void {
    // Only an engine this element loaded can be loaded again; a page that handed one in must
    // hand in a new one.
    this.set('error', null, { error: describeError(err), action: this.ownsActive ? 'reload' : null, previous: null });
    if (report) emit<LlmErrorDetail>(this.host, 'llm-error', { error: err, during: 'idle' });
  }

  private async releaseActive(): Promise<void> {
    const old = this.active;
    const owned = this.ownsActive;
    this.active = null;
    this.activeSource = null;
    this.ownsActive = false;
    this.lostError = null;
    if (old && owned) await old.dispose().catch(() => undefined);
  }

  private teardown(): void {
    this.stop();
    this.loadController?.abort();
    this.loadController = null;
    void this.releaseActive();
    this.ownWorker?.terminate();
    this.ownWorker = null;
    if (this.currentState !== 'error') this.set('idle', null, this.currentFailure);
  }

  private set(state: ChatState, progress: LoadProgress | null, failure: EngineFailure | null): void {
    this.currentState = state;
    this.currentProgress = progress;
    this.currentFailure = failure;
    this.host.requestUpdate();
  }
}
