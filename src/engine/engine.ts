/**
 * The in-process engine: a GGUF model from any ByteSource on a GPU device, with its tokenizer and
 * chat template, behind the LlmEngine API. The Node CLI uses it directly; in the browser the
 * engine worker runs it and the page talks to it through the worker client.
 */
import { readGGUF, readTensorBytes, type GGUFFile } from '../gguf/index.ts';
import type { GpuContext } from '../gpu/device.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { cachedPipelineCount, warmPipelines } from '../gpu/pipelines.ts';
import { maxWeightPartBytes } from '../gpu/weights.ts';
import type { ByteSource } from '../io/byte-source.ts';
import type { ProgressReport } from '../io/progress.ts';
import { ContextOverflowError, DeviceLostError, LowbitError, ModelFormatError } from '../errors.ts';
import { modelConfigFromMetadata, type ModelConfig } from '../model/config.ts';
import { resolveTensorNames } from '../model/tensors.ts';
import { ForwardPass } from '../runtime/forward.ts';
import { checkTensorTypes } from './check-model.ts';
import { loadGpuWeights, planWeights } from '../runtime/loader.ts';
import { fuseProjections, planFusedWeights } from '../runtime/fused-weights.ts';
import { Session, type StepResult } from '../runtime/session.ts';
import { StopMatcher } from '../runtime/stop.ts';
import { chatFormatterFor, tokenizerFromGGUF, type ChatFormatter, type Tokenizer } from '../tokenizer/index.ts';
import {
  CHAT_TEMPERATURE,
  type ChatMessage,
  type FinishReason,
  type GenerateOptions,
  type GenerationStats,
  type LlmEngine,
  type LoadOptions,
  type ModelInfo,
  type TokenStream,
} from './types.ts';
import { toLoadProgress } from './load-progress.ts';
import { TokenQueue } from './token-queue.ts';
import { checkGpuMemoryBudget, DEFAULT_MAX_BATCH, resolveContextSize } from './memory-budget.ts';

export interface EngineLoadOptions extends LoadOptions {
  /**
   * The GPU to run on (requestBrowserGpu / requestNodeGpu, created with `limits` when that is
   * given). The engine does not destroy it.
   */
  gpu: GpuContext;
  /** Most prompt tokens per prefill submission (default 64). */
  maxBatch?: number;
  /** Display name (default: general.name or the source name). */
  name?: string;
  /**
   * Create the pipelines with createComputePipelineAsync, all at once and while the weights
   * upload (default: in browsers). Off in Node: there Dawn's async creation is not reliable
   * (see getPipelineAsync), and every pipeline is created synchronously by its kernel.
   */
  asyncPipelines?: boolean;
}

/** Whether this runtime is Node (whose Dawn binding is not trusted with async pipeline creation). */
const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/**
 * A dying device can reject a pending read (OperationError) a moment before `device.lost`
 * resolves: a GPU error is held this long to see whether it was the device going away.
 */
const LOSS_GRACE_MS = 250;

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
  if (options.limits !== undefined && options.limits !== gpu.limitsTier) {
    throw new RangeError(`limits '${options.limits}' asked for, but the GPU device was created with '${gpu.limitsTier}' limits`);
  }
  // Read on the CPU as F32 values (llama.cpp's RoPE takes no other type): checked before any upload.
  const ropeFreqs = names.ropeFreqs === undefined ? undefined : file.tensor(names.ropeFreqs)!;
  if (ropeFreqs && ropeFreqs.typeName !== 'F32') {
    throw new ModelFormatError(`${ropeFreqs.name} is ${ropeFreqs.typeName}; it must be F32 (RoPE frequency factors)`);
  }
  const { contextSize, warnings } = resolveContextSize(cfg, options.contextSize);
  const maxBatch = Math.min(options.maxBatch ?? DEFAULT_MAX_BATCH, contextSize);
  // Every GPU size below reads the one device's limits (gpu.limits), and nothing is allocated
  // before the whole model is known to fit.
  const budget = checkGpuMemoryBudget(file, { config: cfg, contextSize, maxBatch, limits: gpu.limits, maxGpuBytes: options.maxGpuBytes });
  const tokenizerPromise = tokenizerFromGGUF(file);
  const onProgress = options.onProgress;
  let ropeFreqFactors: Float32Array | undefined;
  if (ropeFreqs) {
    const bytes = await readTensorBytes(source, ropeFreqs);
    ropeFreqFactors = new Float32Array(bytes.slice().buffer, 0, ropeFreqs.nElements);
  }
  const forwardOptions = { contextSize, maxBatch, ropeFreqFactors };
  // The pipelines are known from the shapes alone: they start compiling now, in parallel, while
  // the weights upload, and the forward pass built afterwards finds them in the cache.
  const asyncPipelines = options.asyncPipelines ?? !isNode;
  const partBytes = Math.min(budget.maxBufferBytes, maxWeightPartBytes(gpu));
  const planned = asyncPipelines
    ? ForwardPass.describePipelines(
        gpu,
        cfg,
        names,
        planFusedWeights(planWeights(file.tensors, source.name, partBytes), names, partBytes),
        forwardOptions,
      )
    : undefined;
  // The kernel phase shows pipelines created out of those the decode graph needs; creations that
  // finish during the upload are reported once it is over, so the two phases do not interleave.
  let compiled = 0;
  let compilePhase = false;
  const decodeReady = planned
    ? warmPipelines(gpu, planned.decode, (n) => {
        compiled = n;
        if (compilePhase) onProgress?.({ phase: 'compile', bytesDone: n, bytesTotal: planned.decode.length });
      })
    : Promise.resolve(0);
  const weights = await loadGpuWeights(gpu.device, source, {
    gguf: file,
    maxBufferBytes: budget.maxBufferBytes,
    signal: options.signal,
    onProgress: onProgress ? (r: ProgressReport) => onProgress(toLoadProgress(r)) : undefined,
  }).catch(async (e: unknown) => {
    await decodeReady; // no creation outlives a failed load
    throw e;
  });
  const destroyWeights = () => {
    for (const w of weights.values()) for (const p of w.parts) p.buffer.destroy();
  };
  try {
    await fuseProjections(gpu, weights, names, partBytes);
    compilePhase = true;
    if (planned) {
      onProgress?.({ phase: 'compile', bytesDone: compiled, bytesTotal: planned.decode.length });
      await decodeReady;
    } else {
      onProgress?.({ phase: 'compile', bytesDone: 0, bytesTotal: 0 });
    }
    const pipelinesBefore = cachedPipelineCount(gpu.device);
    const forward = new ForwardPass(gpu, cfg, names, weights, forwardOptions);
    // Without warm-up the pipelines were created just now; the GPU compiles them before the first
    // submission completes. The phase counts them (at least 1, so a cached device still shows the step).
    const kernels = planned ? Math.max(1, planned.decode.length) : Math.max(1, cachedPipelineCount(gpu.device) - pipelinesBefore);
    if (!planned) onProgress?.({ phase: 'compile', bytesDone: 0, bytesTotal: kernels });
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
      limits: gpu.limitsTier,
      warnings,
    };
    // Ready once decode's kernels are compiled; prefill's follow at once, in the background. With
    // warm-up, a prompt that comes sooner waits for them rather than creating them a second time
    // synchronously; without, the first prompt builds them itself if it comes sooner.
    let prefillReady: Promise<unknown> = Promise.resolve();
    if (planned) prefillReady = warmPipelines(gpu, planned.prefill).then(() => forward.preparePrefill());
    else setTimeout(() => forward.preparePrefill(), 0);
    const engine = new Engine(gpu, cfg, info, tokenizer, new Session(gpu, forward), weights, prefillReady);
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
    /** Settles when the prefill graph's pipelines are warmed up (see loadEngine). */
    private readonly prefillReady: Promise<unknown> = Promise.resolve(),
  ) {
    this.chatFormat = chatFormatterFor(tokenizer);
    this.lost = gpu.lost.then((err) => (this.lostError = err));
  }

  /**
   * Prompt tokens for raw text, with BOS when the model's metadata asks for it (as llama.cpp).
   * With `contextSize`, text that surely fills it is refused first (EncodeOptions.contextSize).
   */
  encodePrompt(text: string, addBos = true, contextSize?: number): number[] {
    return this.tokenizer.encode(text, { addSpecial: addBos, parseSpecial: true, contextSize });
  }

  generate(prompt: string | number[], options: GenerateOptions = {}): TokenStream {
    this.checkUsable(); // before the tokenizer, which a disposed engine no longer has
    // A text that surely overflows the context is refused before the tokenizer's memory grows with it.
    const tokens = typeof prompt === 'string' ? this.encodePrompt(prompt, options.addBos ?? true, this.session.contextSize) : prompt;
    return this.stream(tokens, options, options.stop ?? []);
  }

  chat(messages: ChatMessage[], options: GenerateOptions = {}): TokenStream {
    this.checkUsable();
    const { tokens } = this.chatFormat.format(
      messages.map((m) => ({ ...m })),
      { addGenerationPrompt: true, contextSize: this.session.contextSize },
    );
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
    const contextSize = this.session.contextSize;
    if (promptTokens.length >= contextSize) {
      throw new ContextOverflowError(
        `the prompt has ${promptTokens.length} tokens; this model was loaded with a ${contextSize}-token context, which leaves no room to generate`,
        promptTokens.length + 1,
        contextSize,
      );
    }
    // Ids index the embedding on the GPU, where one out of range reads another row (or zeros)
    // and the model answers a prompt nobody wrote.
    const { vocabSize } = this.config;
    const bad = promptTokens.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
    if (bad >= 0) throw new RangeError(`prompt token ${bad} is ${promptTokens[bad]}, not a token id of this model (0..${vocabSize - 1})`);
    if (options.maxTokens !== undefined && !(options.maxTokens >= 0)) {
      throw new RangeError(`maxTokens must be a number of tokens, 0 or more (got ${options.maxTokens})`);
    }
    const queue = new TokenQueue();
    const abort = new AbortController();
    const external = options.signal;
    const onAbort = () => abort.abort(external?.reason);
    if (external?.aborted) abort.abort(external.reason);
    else external?.addEventListener('abort', onAbort, { once: true });
    const maxTokens = Math.max(1, Math.min(options.maxTokens ?? 256, contextSize - promptTokens.length));
    const detok = this.tokenizer.createStreamDecoder();
    const stopper = new StopMatcher(stops);
    let finish: FinishReason = 'length';
    const run = async (): Promise<GenerationStats> => {
      // One generation at a time per engine: the KV cache is shared.
      await this.running.catch(() => undefined);
      if (promptTokens.length > 1) await this.prefillReady;
      // Aborted before its turn (a caller that left while it waited): no prefill, no token.
      if (abort.signal.aborted) {
        finish = 'abort';
        return {
          promptTokens: promptTokens.length,
          generatedTokens: 0,
          prefillTokensPerSec: 0,
          decodeTokensPerSec: 0,
          timeToFirstTokenMs: 0,
          finishReason: finish,
        };
      }
      const r = await this.untilLost(
        this.session.run(promptTokens, {
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
        }),
      );
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
