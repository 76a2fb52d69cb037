/**
 * The in-process engine: a GGUF model from any ByteSource on a GPU device, with its tokenizer and
 * chat template, behind the LlmEngine API. The Node CLI uses it directly; in the browser the
 * engine worker runs it and the page talks to it through the worker client.
 */
import { readGGUF, readTensorBytes, type GGUFFile } from '../gguf/index.ts';
import type { GpuContext } from '../gpu/device.ts';
import { cachedPipelineCount } from '../gpu/pipelines.ts';
import type { ByteSource } from '../io/byte-source.ts';
import type { ProgressReport } from '../io/progress.ts';
import { kvCacheLayerBytes } from '../kernels/attention.ts';
import { ContextOverflowError, DeviceLimitError, DeviceLostError, LowbitError, UnsupportedTensorTypeError } from '../errors.ts';
import { modelConfigFromMetadata, type ModelConfig } from '../model/config.ts';
import { resolveTensorNames } from '../model/tensors.ts';
import { ForwardPass } from '../runtime/forward.ts';
import { LINEAR_TYPES } from '../runtime/linear.ts';
import { loadGpuWeights, type GpuWeight } from '../runtime/loader.ts';
import { Session, type StepResult } from '../runtime/session.ts';
import { StopMatcher } from '../runtime/stop.ts';
import { chatFormatterFor, tokenizerFromGGUF, type ChatFormatter, type Tokenizer } from '../tokenizer/index.ts';
import {
  CHAT_TEMPERATURE,
  type ChatMessage,
  type FinishReason,
  type GeneratedToken,
  type GenerateOptions,
  type GenerationStats,
  type LlmEngine,
  type LoadOptions,
  type ModelInfo,
  type TokenStream,
} from './types.ts';
import { toLoadProgress } from './load-progress.ts';
import { TokenQueue } from './token-queue.ts';

export interface EngineLoadOptions extends LoadOptions {
  /** The GPU to run on (requestBrowserGpu / requestNodeGpu). The engine does not destroy it. */
  gpu: GpuContext;
  /** Most prompt tokens per prefill submission (default 64). */
  maxBatch?: number;
  /** Display name (default: general.name or the source name). */
  name?: string;
}

const DEFAULT_CONTEXT = 2048;

/**
 * A dying device can reject a pending read (OperationError) a moment before `device.lost`
 * resolves: a GPU error is held this long to see whether it was the device going away.
 */
const LOSS_GRACE_MS = 250;

/** Weight types with a GPU path, checked before anything is uploaded. */
function checkTensorTypes(file: GGUFFile): void {
  const bad = file.tensors.filter((t) => !LINEAR_TYPES.includes(t.typeId));
  if (bad.length) {
    const list = bad.slice(0, 5).map((t) => `${t.name} (${t.typeName})`).join(', ');
    throw new UnsupportedTensorTypeError(
      `${file.sourceName}: ${bad.length} tensor(s) use types lowbit cannot run on the GPU yet: ${list}${bad.length > 5 ? ', …' : ''}`,
      bad[0]!.typeId,
      bad[0]!.name,
    );
  }
}

function countParameters(file: GGUFFile): number {
  return file.tensors.reduce((s, t) => s + t.nElements, 0);
}

/** Loads a model onto the GPU and returns a ready engine. */
export async function loadEngine(source: ByteSource, options: EngineLoadOptions): Promise<Engine> {
  const { gpu } = options;
  options.signal?.throwIfAborted();
  const file = await readGGUF(source, { signal: options.signal });
  const cfg = modelConfigFromMetadata(file, file.tensor('token_embd.weight')?.dims[1]);
  const names = resolveTensorNames(cfg, file.tensors);
  checkTensorTypes(file);
  const contextSize = Math.max(1, Math.min(options.contextSize ?? Math.min(cfg.contextLength, DEFAULT_CONTEXT), cfg.contextLength));
  // The larger of a layer's K and V caches must fit one binding; checked before any upload.
  const kvLayerBytes = kvCacheLayerBytes({ nKvHeads: cfg.nHeadKV, maxCtx: contextSize, headDim: Math.max(cfg.headDim, cfg.headDimV) });
  if (kvLayerBytes > gpu.limits.maxStorageBufferBindingSize) {
    throw new DeviceLimitError(
      `a ${contextSize}-token KV cache needs ${kvLayerBytes} bytes per layer, over this GPU's binding limit ` +
        `(${gpu.limits.maxStorageBufferBindingSize}); choose a smaller context size`,
    );
  }
  const tokenizerPromise = tokenizerFromGGUF(file);
  const onProgress = options.onProgress;
  const weights = await loadGpuWeights(gpu.device, source, {
    gguf: file,
    signal: options.signal,
    onProgress: onProgress ? (r: ProgressReport) => onProgress(toLoadProgress(r)) : undefined,
  });
  const destroyWeights = () => {
    for (const w of weights.values()) for (const p of w.parts) p.buffer.destroy();
  };
  try {
    let ropeFreqFactors: Float32Array | undefined;
    if (names.ropeFreqs) {
      const t = file.tensor(names.ropeFreqs)!;
      const bytes = await readTensorBytes(source, t);
      ropeFreqFactors = new Float32Array(bytes.slice().buffer, 0, t.nElements);
    }
    onProgress?.({ phase: 'compile', bytesDone: 0, bytesTotal: 0 });
    const pipelinesBefore = cachedPipelineCount(gpu.device);
    const forward = new ForwardPass(gpu, cfg, names, weights, {
      contextSize,
      maxBatch: Math.min(options.maxBatch ?? 64, contextSize),
      ropeFreqFactors,
    });
    // The pipelines were created just now; the GPU compiles them before the first submission
    // completes. The phase counts them (at least 1, so a cached device still shows the step).
    const kernels = Math.max(1, cachedPipelineCount(gpu.device) - pipelinesBefore);
    onProgress?.({ phase: 'compile', bytesDone: 0, bytesTotal: kernels });
    const tokenizer = await tokenizerPromise;
    await gpu.device.queue.onSubmittedWorkDone();
    onProgress?.({ phase: 'compile', bytesDone: kernels, bytesTotal: kernels });
    const weightBytes = [...weights.values()].reduce((s, w) => s + w.parts.reduce((a, p) => a + p.buffer.size, 0), 0);
    const tensorTypes: Record<string, number> = {};
    for (const t of file.tensors) tensorTypes[t.typeName] = (tensorTypes[t.typeName] ?? 0) + 1;
    const info: ModelInfo = {
      name: options.name ?? file.getString('general.name') ?? source.name,
      architecture: cfg.architecture,
      parameters: countParameters(file),
      contextSize,
      modelContextLength: cfg.contextLength,
      vocabSize: cfg.vocabSize,
      fileBytes: source.size,
      gpuBytes: { weights: weightBytes, kvCache: forward.kvCacheBytes, scratch: forward.scratchBytes },
      tensorTypes,
      hasChatTemplate: Boolean(tokenizer.chatTemplate),
      adapter: [gpu.adapterInfo.vendor, gpu.adapterInfo.architecture, gpu.adapterInfo.description].filter(Boolean).join(' '),
    };
    const engine = new Engine(gpu, cfg, info, tokenizer, new Session(gpu, forward), weights);
    // Ready once decode's kernels are compiled; prefill's follow at once, in the background (the
    // first prompt builds them itself if it comes sooner).
    setTimeout(() => forward.preparePrefill(), 0);
    return engine;
  } catch (e) {
    destroyWeights();
    throw e;
  }
}

export class Engine implements LlmEngine {
  private disposed = false;
  /** Set when the GPU device is lost: every later call fails with it. */
  private lostError: DeviceLostError | null = null;
  private running: Promise<unknown> = Promise.resolve();
  readonly chatFormat: ChatFormatter;
  /** Resolves when the GPU device is lost (the engine never destroys it, so any loss counts). */
  readonly lost: Promise<DeviceLostError>;

  constructor(
    private readonly gpu: GpuContext,
    readonly config: ModelConfig,
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    private readonly session: Session,
    private readonly weights: Map<string, GpuWeight>,
  ) {
    this.chatFormat = chatFormatterFor(tokenizer);
    this.lost = gpu.lost.then((err) => (this.lostError = err));
  }

  /** Prompt tokens for raw text, with BOS when the model's metadata asks for it (as llama.cpp). */
  encodePrompt(text: string, addBos = true): number[] {
    return this.tokenizer.encode(text, { addSpecial: addBos, parseSpecial: true });
  }

  generate(prompt: string | number[], options: GenerateOptions = {}): TokenStream {
    const tokens = typeof prompt === 'string' ? this.encodePrompt(prompt, options.addBos ?? true) : prompt;
    return this.stream(tokens, options, options.stop ?? []);
  }

  chat(messages: ChatMessage[], options: GenerateOptions = {}): TokenStream {
    const { tokens } = this.chatFormat.format(messages.map((m) => ({ ...m })), { addGenerationPrompt: true });
    return this.stream(tokens, { temperature: CHAT_TEMPERATURE, ...options }, [...this.chatFormat.stopStrings, ...(options.stop ?? [])]);
  }

  async countTokens(text: string): Promise<number> {
    return this.encodePrompt(text).length;
  }

  async reset(): Promise<void> {
    this.checkUsable();
    await this.running.catch(() => undefined);
    this.session.reset();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.running.catch(() => undefined);
    if (!this.lostError) await this.gpu.device.queue.onSubmittedWorkDone();
    this.session.destroy();
    for (const w of this.weights.values()) for (const p of w.parts) p.buffer.destroy();
    this.tokenizer.dispose();
  }

  private checkUsable(): void {
    if (this.disposed) throw new LowbitError('this engine has been disposed');
    if (this.lostError) throw this.lostError;
  }

  /**
   * `work` on the GPU, or the DeviceLostError when the device is lost under it: a lost device
   * leaves reads pending or rejects them with an error that does not say why.
   */
  private async untilLost<T>(work: Promise<T>): Promise<T> {
    try {
      return await Promise.race([
        work,
        this.lost.then((err) => {
          throw err;
        }),
      ]);
    } catch (e) {
      if (this.lostError) throw this.lostError;
      const lost = await Promise.race([this.lost, new Promise<null>((r) => setTimeout(() => r(null), LOSS_GRACE_MS))]);
      throw lost ?? e;
    }
  }

  private stream(promptTokens: number[], options: GenerateOptions, stops: readonly string[]): TokenStream {
    this.checkUsable();
    const queue = new TokenQueue();
    const abort = new AbortController();
    const external = options.signal;
    const onAbort = () => abort.abort(external?.reason);
    if (external?.aborted) abort.abort(external.reason);
    else external?.addEventListener('abort', onAbort, { once: true });
    const contextSize = this.session.contextSize;
    if (promptTokens.length >= contextSize) {
      throw new ContextOverflowError(
        `the prompt has ${promptTokens.length} tokens; this model was loaded with a ${contextSize}-token context, which leaves no room to generate`,
        promptTokens.length + 1,
        contextSize,
      );
    }
    const maxTokens = Math.max(1, Math.min(options.maxTokens ?? 256, contextSize - promptTokens.length));
    const detok = this.tokenizer.createStreamDecoder();
    const stopper = new StopMatcher(stops);
    let finish: FinishReason = 'length';
    const run = async (): Promise<GenerationStats> => {
      // One generation at a time per engine: the KV cache is shared.
      await this.running.catch(() => undefined);
      const r = await this.untilLost(this.session.run(promptTokens, {
        ...options, // the sampling options
        maxTokens,
        topProbs: options.topLogprobs,
        signal: abort.signal,
        onToken: (step: StepResult) => {
          if (this.tokenizer.isEog(step.token)) {
            finish = 'eos';
            return true;
          }
          const { emit, stopped } = stopper.push(detok.push(step.token));
          queue.push({ id: step.token, text: emit, ...(step.top ? { top: step.top } : {}) });
          if (stopped) {
            finish = 'stop';
            return true;
          }
          return false;
        },
      }));
      const tail = finish === 'stop' ? '' : stopper.push(detok.flush()).emit + stopper.flush();
      if (tail) queue.push({ id: -1, text: tail });
      if (r.finishReason === 'abort') finish = 'abort';
      const decoded = Math.max(0, r.generatedTokens - 1);
      return {
        promptTokens: r.promptTokens,
        generatedTokens: r.generatedTokens,
        prefillTokensPerSec: r.prefillMs > 0 ? (r.prefilledTokens / r.prefillMs) * 1000 : 0,
        decodeTokensPerSec: r.decodeMs > 0 ? (decoded / r.decodeMs) * 1000 : 0,
        timeToFirstTokenMs: r.timeToFirstTokenMs,
        finishReason: finish,
      };
    };
    const stats = run().then(
      (s) => {
        queue.end();
        external?.removeEventListener('abort', onAbort);
        return s;
      },
      (e) => {
        queue.end(e);
        external?.removeEventListener('abort', onAbort);
        throw e;
      },
    );
    this.running = stats;
    stats.catch(() => undefined); // errors reach the consumer through the iterator
    return {
      stats,
      // Leaving a for-await loop early stops the generation.
      [Symbol.asyncIterator]: () =>
        queue.iterator(async () => {
          abort.abort();
          await stats.catch(() => undefined);
        }),
    };
  }
}

