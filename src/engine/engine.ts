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
import { Evaluator } from '../runtime/evaluate.ts';
import { BatchDecoder, SlotKvCache } from '../runtime/batch-decode.ts';
import { resolveActivations } from '../kernels/matvec-q8.ts';
import { ForwardPass, type ForwardOptions, int8RowsFit } from '../runtime/forward.ts';
import { checkTensorTypes } from './check-model.ts';
import { loadGpuWeights, planWeights } from '../runtime/loader.ts';
import { fuseProjections, planFusedWeights } from '../runtime/fused-weights.ts';
import type { KernelVariants, TuneRecordCache, TuneResult } from '../kernels/autotune.ts';
import { chooseKernels } from './kernel-choice.ts';
import { checkContextShift, Session, type StepResult } from '../runtime/session.ts';
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
  /** Evaluation options of the forward pass (perplexity, KL, imatrix: see Engine.evaluator). */
  evaluation?: Pick<ForwardOptions, 'allLogits' | 'linearInputTap'>;
  /**
   * Independent conversations to hold at once (default 1): each slot is its own session with its
   * own KV cache and scratch, over the one copy of the weights (see Engine.slots). All of them are
   * allocated at load, inside the memory budget.
   */
  slots?: number;
  /**
   * With several slots: decode them together, one submission and one mat-mul per step for every
   * slot decoding (runtime/batch-decode.ts), or each slot its own steps. Default: together, with
   * f32 activations (the f32 mat-mul over the rows) and with int8 ones where the batched step can
   * stay int8 (every layer linear has an int8 mat-vec, at most MAX_Q8_TOKENS slots: int8RowsFit),
   * each weight chunk read once for all rows. Otherwise (int8 decode but an f32 batched step)
   * separate int8 steps are about as fast, and each slot keeps its own.
   */
  batchDecode?: boolean;
  /**
   * Create the pipelines with createComputePipelineAsync, all at once and while the weights
   * upload (default: in browsers). Off in Node: there Dawn's async creation is not reliable
   * (see getPipelineAsync), and every pipeline is created synchronously by its kernel.
   */
  asyncPipelines?: boolean;
  /** Where autotune's choices are cached (the model store); without one, every tuned load tunes. */
  autotuneCache?: TuneRecordCache;
  /** Autotune's budget: ms on a hardware GPU, decode tokens' time on a software adapter. */
  autotuneBudget?: { ms?: number; tokens?: number };
  /** Called with what autotune did (timed now, or read from the cache). */
  onAutotune?: (result: TuneResult) => void;
  /** Kernel variants to run with, by weight type: forced, nothing is tuned (tests, the bench). */
  kernelVariants?: KernelVariants;
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
  const slotCount = options.slots ?? 1;
  if (!Number.isSafeInteger(slotCount) || slotCount < 1) throw new RangeError(`slots must be a positive integer, got ${slotCount}`);
  const maxBatch = Math.min(options.maxBatch ?? DEFAULT_MAX_BATCH, contextSize);
  // Every GPU size below reads the one device's limits (gpu.limits), and nothing is allocated
  // before the whole model is known to fit.
  const budget = checkGpuMemoryBudget(file, {
    config: cfg,
    contextSize,
    maxBatch,
    limits: gpu.limits,
    maxGpuBytes: options.maxGpuBytes,
    sequences: slotCount,
    allLogits: options.evaluation?.allLogits,
    activations: options.activations,
  });
  const tokenizerPromise = tokenizerFromGGUF(file);
  const onProgress = options.onProgress;
  let ropeFreqFactors: Float32Array | undefined;
  if (ropeFreqs) {
    const bytes = await readTensorBytes(source, ropeFreqs);
    ropeFreqFactors = new Float32Array(bytes.slice().buffer, 0, ropeFreqs.nElements);
  }
  const partBytes = Math.min(budget.maxBufferBytes, maxWeightPartBytes(gpu));
  const plainPlan = () => planWeights(file.tensors, source.name, partBytes);
  // The kernel variants (and activations, when auto) for this device: autotuned before anything
  // is uploaded, on zero weights of the model's shapes, or read from the store's cache.
  const kernelChoice = await chooseKernels(gpu, plainPlan(), names, maxBatch, {
    attention: { headDim: cfg.headDim, nHeads: cfg.nHead, nKvHeads: cfg.nHeadKV },
    activations: options.activations,
    autotune: options.autotune,
    cache: options.autotuneCache,
    kernelVariants: options.kernelVariants,
    budgetMs: options.autotuneBudget?.ms,
    budgetTokens: options.autotuneBudget?.tokens,
    onTune: options.onAutotune,
  });
  options.signal?.throwIfAborted();
  const forwardOptions: ForwardOptions = {
    contextSize,
    maxBatch,
    ropeFreqFactors,
    activations: kernelChoice.activations,
    kernelVariants: kernelChoice.variants,
    ...options.evaluation,
  };
  // The pipelines are known from the shapes alone: they start compiling now, in parallel, while
  // the weights upload, and the forward pass built afterwards finds them in the cache.
  const asyncPipelines = options.asyncPipelines ?? !isNode;
  const planned = asyncPipelines
    ? ForwardPass.describePipelines(gpu, cfg, names, planFusedWeights(plainPlan(), names, partBytes), forwardOptions)
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
  // Every slot's pass shares the weights; each owns its KV cache and scratch.
  const sessions: Session[] = [];
  let batch: BatchDecoder | undefined;
  let slotKv: SlotKvCache | undefined;
  const destroySessions = () => {
    for (const s of sessions) s.destroy();
    if (batch)
      void batch.destroy(); // it owns slotKv
    else slotKv?.destroy();
  };
  try {
    // Concatenated Q/K/V and gate/up feed the mat-vecs' split and GLU fusions (f32 and int8).
    await fuseProjections(gpu, weights, names, partBytes);
    compilePhase = true;
    if (planned) {
      onProgress?.({ phase: 'compile', bytesDone: compiled, bytesTotal: planned.decode.length });
      await decodeReady;
    } else {
      onProgress?.({ phase: 'compile', bytesDone: 0, bytesTotal: 0 });
    }
    const pipelinesBefore = cachedPipelineCount(gpu.device);
    const activations = resolveActivations(gpu, forwardOptions.activations);
    const batchByDefault = activations === 'f32' || int8RowsFit(activations, names, weights, slotCount);
    const batched = slotCount > 1 && (options.batchDecode ?? batchByDefault);
    // Batched slots keep their KV caches side by side (one buffer per layer) where the device can
    // bind that buffer, so a step's RoPE and attention cover every slot in one dispatch each.
    if (batched && SlotKvCache.layout(gpu, cfg, contextSize, slotCount)) slotKv = new SlotKvCache(gpu, cfg, contextSize, slotCount);
    for (let i = 0; i < slotCount; i++)
      sessions.push(new Session(gpu, new ForwardPass(gpu, cfg, names, weights, { ...forwardOptions, kvCache: slotKv?.slot(i) })));
    const forward = sessions[0]!.forward;
    if (batched) {
      // Slots decode together: one row per slot in a pass over the same weights (batch-decode.ts).
      const rows = new ForwardPass(gpu, cfg, names, weights, {
        ...forwardOptions,
        linearInputTap: undefined,
        contextSize: slotCount,
        maxBatch: slotCount,
        allLogits: true,
        decodeRows: true,
      });
      batch = new BatchDecoder(
        gpu,
        sessions.map((s) => s.forward),
        rows,
        slotKv,
      );
      for (const s of sessions) s.batch = batch;
    }
    const batchBytes = batch ? batch.gpuBytes : 0;
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
      gpuBytes: { weights: weightBytes, kvCache: forward.kvCacheBytes * slotCount, scratch: forward.scratchBytes * slotCount + batchBytes },
      tensorTypes,
      hasChatTemplate: Boolean(tokenizer.chatTemplate),
      adapter: [gpu.adapterInfo.vendor, gpu.adapterInfo.architecture, gpu.adapterInfo.description].filter(Boolean).join(' '),
      limits: gpu.limitsTier,
      activations: forward.activations,
      kernels: { source: kernelChoice.source, variants: kernelChoice.variants ?? {} },
      warnings,
    };
    // Ready once decode's kernels are compiled; prefill's follow at once, in the background. With
    // warm-up, a prompt that comes sooner waits for them rather than creating them a second time
    // synchronously; without, the first prompt builds them itself if it comes sooner.
    let prefillReady: Promise<unknown> = Promise.resolve();
    const preparePrefill = () => {
      for (const s of sessions) s.forward.preparePrefill();
    };
    if (planned) prefillReady = warmPipelines(gpu, planned.prefill).then(preparePrefill);
    else setTimeout(preparePrefill, 0);
    const engine = new Engine(gpu, cfg, info, tokenizer, sessions, weights, prefillReady, batch);
    return engine;
  } catch (e) {
    destroySessions();
    destroyWeights();
    throw e;
  }
}

/** A tokenized prompt with the options and stop strings it runs with (Engine.prepareChat, prepareGenerate). */
export interface PreparedPrompt {
  readonly tokens: readonly number[];
  readonly options: GenerateOptions;
  readonly stops: readonly string[];
}

/**
 * One of the engine's independent conversations: a session with its own KV cache. Generations on
 * one slot run one after another; different slots run at once (their decode steps batched into
 * one submission, or each its own: EngineLoadOptions.batchDecode).
 */
export interface EngineSlot {
  readonly index: number;
  /** Tokens whose K/V the slot holds: a prompt starting with them skips their prefill. */
  readonly cachedTokens: readonly number[];
  /** Starts a generation; `signal` (if any) aborts it, as GenerateOptions.signal does. */
  run(prompt: PreparedPrompt, signal?: AbortSignal): TokenStream;
}

/** A slot's session and the generation it runs (the next one waits for it: the KV cache is shared). */
class SessionSlot implements EngineSlot {
  running: Promise<unknown> = Promise.resolve();
  constructor(
    readonly index: number,
    readonly session: Session,
    private readonly start: (slot: SessionSlot, prompt: PreparedPrompt, signal?: AbortSignal) => TokenStream,
  ) {}
  get cachedTokens(): readonly number[] {
    return this.session.cachedTokens;
  }
  run(prompt: PreparedPrompt, signal?: AbortSignal): TokenStream {
    return this.start(this, prompt, signal);
  }
}

export class Engine implements LlmEngine {
  private disposed = false;
  /** Set when the GPU device is lost: every later call fails with it. */
  private lostError: DeviceLostError | null = null;
  private readonly sessionSlots: SessionSlot[];
  readonly chatFormat: ChatFormatter;
  /** Resolves when the GPU device is lost (the engine never destroys it, so any loss counts). */
  readonly lost: Promise<DeviceLostError>;

  constructor(
    private readonly gpu: GpuContext,
    readonly config: ModelConfig,
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    /** One per slot (EngineLoadOptions.slots); the first is the one chat() and generate() use. */
    sessions: Session[],
    private readonly weights: Map<string, GpuWeight>,
    /** Settles when the prefill graph's pipelines are warmed up (see loadEngine). */
    private readonly prefillReady: Promise<unknown> = Promise.resolve(),
    /** With several slots: their shared decode batch (every session's Session.batch). */
    private readonly batch?: BatchDecoder,
  ) {
    if (sessions.length === 0) throw new RangeError('an engine needs at least one session');
    this.chatFormat = chatFormatterFor(tokenizer);
    this.lost = gpu.lost.then((err) => (this.lostError = err));
    this.sessionSlots = sessions.map((session, i) => new SessionSlot(i, session, (slot, p, signal) => this.stream(slot, p, signal)));
  }

  /** Whether the slots decode in one batched step (EngineLoadOptions.batchDecode). */
  get batchedDecode(): boolean {
    return this.batch !== undefined;
  }

  /** The engine's conversations (EngineLoadOptions.slots); chat() and generate() run on slots[0]. */
  get slots(): readonly EngineSlot[] {
    return this.sessionSlots;
  }

  private get session(): Session {
    return this.sessionSlots[0]!.session;
  }

  /**
   * Prompt tokens for raw text, with BOS when the model's metadata asks for it (as llama.cpp).
   * With `contextSize`, text that surely fills it is refused first (EncodeOptions.contextSize).
   */
  encodePrompt(text: string, addBos = true, contextSize?: number): number[] {
    return this.tokenizer.encode(text, { addSpecial: addBos, parseSpecial: true, contextSize });
  }

  generate(prompt: string | number[], options: GenerateOptions = {}): TokenStream {
    return this.stream(this.sessionSlots[0]!, this.prepareGenerate(prompt, options), options.signal);
  }

  chat(messages: ChatMessage[], options: GenerateOptions = {}): TokenStream {
    return this.stream(this.sessionSlots[0]!, this.prepareChat(messages, options), options.signal);
  }

  /** What generate() runs: the raw prompt's tokens (BOS as the model asks) and its stop strings. */
  prepareGenerate(prompt: string | readonly number[], options: GenerateOptions = {}): PreparedPrompt {
    this.checkUsable(); // before the tokenizer, which a disposed engine no longer has
    // A text that surely overflows the context is refused before the tokenizer's memory grows with it.
    // With a context shift, a long prompt loses its oldest tokens instead (linear in the text's size).
    const refuseAbove = options.contextShift ? undefined : this.session.contextSize;
    const tokens = typeof prompt === 'string' ? this.encodePrompt(prompt, options.addBos ?? true, refuseAbove) : prompt;
    return { tokens, options, stops: options.stop ?? [] };
  }

  /** What chat() runs: the conversation in the chat template, sampled at CHAT_TEMPERATURE by default. */
  prepareChat(messages: readonly ChatMessage[], options: GenerateOptions = {}): PreparedPrompt {
    this.checkUsable();
    const { tokens } = this.chatFormat.format(
      messages.map((m) => ({ ...m })),
      { addGenerationPrompt: true, contextSize: options.contextShift ? undefined : this.session.contextSize },
    );
    let contextShift = options.contextShift;
    if (contextShift) {
      // A context shift in a chat also keeps the system prompt, whatever `keep` says.
      const contextSize = this.session.contextSize;
      checkContextShift(contextShift, contextSize);
      const systemTokens = this.systemPromptTokens(messages, tokens);
      if (systemTokens > contextSize - 2) {
        throw new ContextOverflowError(
          `the system prompt takes ${systemTokens} tokens; a context shift cannot keep it in a ${contextSize}-token context and still generate`,
          systemTokens,
          contextSize,
        );
      }
      contextShift = { keep: Math.max(contextShift.keep, systemTokens) };
    }
    return {
      tokens,
      options: { temperature: CHAT_TEMPERATURE, ...options, contextShift },
      stops: [...this.chatFormat.stopStrings, ...(options.stop ?? [])],
    };
  }

  /**
   * How many leading tokens of a formatted conversation belong to its leading system message(s):
   * what the template makes of them alone, as far as that agrees with the whole prompt.
   */
  private systemPromptTokens(messages: readonly ChatMessage[], tokens: readonly number[]): number {
    let n = 0;
    while (n < messages.length && messages[n]!.role === 'system') n++;
    if (n === 0) return 0;
    let systemOnly: number[];
    try {
      systemOnly = this.chatFormat.format(
        messages.slice(0, n).map((m) => ({ ...m })),
        { addGenerationPrompt: false },
      ).tokens;
    } catch {
      return 0; // a template that refuses a conversation without a user turn: no known system prefix
    }
    let same = 0;
    while (same < systemOnly.length && same < tokens.length && systemOnly[same] === tokens[same]) same++;
    return same;
  }

  /**
   * An Evaluator over this engine's forward pass, which must have been loaded with
   * `evaluation.allLogits`. It overwrites the KV cache, so the session forgets its cached prompt.
   */
  evaluator(): Evaluator {
    this.checkUsable();
    this.session.reset();
    return new Evaluator(this.gpu, this.session.forward);
  }

  async countTokens(text: string): Promise<number> {
    return this.encodePrompt(text).length;
  }

  /** Clears every slot's KV cache (running generations finish first). */
  async reset(): Promise<void> {
    this.checkUsable();
    for (const slot of this.sessionSlots) {
      await slot.running.catch(() => undefined);
      slot.session.reset();
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const slot of this.sessionSlots) await slot.running.catch(() => undefined);
    if (!this.lostError) await this.gpu.device.queue.onSubmittedWorkDone();
    await this.batch?.destroy();
    for (const slot of this.sessionSlots) slot.session.destroy();
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

  private stream(slot: SessionSlot, prompt: PreparedPrompt, signal: AbortSignal | undefined): TokenStream {
    this.checkUsable();
    const { tokens: promptTokens, options, stops } = prompt;
    const { session } = slot;
    const contextSize = session.contextSize;
    const shift = options.contextShift;
    if (shift) checkContextShift(shift, contextSize);
    if (promptTokens.length >= contextSize && !shift) {
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
    const external = signal;
    const onAbort = () => abort.abort(external?.reason);
    if (external?.aborted) abort.abort(external.reason);
    else external?.addEventListener('abort', onAbort, { once: true });
    const wanted = options.maxTokens ?? 256;
    const maxTokens = Math.max(1, shift ? wanted : Math.min(wanted, contextSize - promptTokens.length));
    const detok = this.tokenizer.createStreamDecoder();
    const stopper = new StopMatcher(stops);
    let finish: FinishReason = 'length';
    const run = async (): Promise<GenerationStats> => {
      // One generation at a time per slot: its KV cache is shared.
      await slot.running.catch(() => undefined);
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
        session.run(promptTokens, {
          ...options, // the sampling options
          maxTokens,
          contextShift: shift,
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
        ...(shift ? { contextShifts: r.contextShifts } : {}),
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
    slot.running = stats;
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
