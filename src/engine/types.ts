/**
 * The public engine API, shared by the in-process engine (Node CLI, tests), the Web Worker host
 * and its page-side client, and the <llm-chat> element. Everything here is structured-clone safe
 * except AbortSignal/callbacks, which the worker client translates into messages.
 *
 * Types the runtime and kernels share with this API are defined there and re-exported here.
 */
import type { ActivationPrecision, ActivationsOption } from '../kernels/matvec-q8.ts';
import type { SamplingOptions } from '../kernels/sampling-options.ts';
import type { ContextShift, FinishReason } from '../runtime/session.ts';
import type { LimitsTier } from '../gpu/device.ts';
import type { KernelVariants } from '../kernels/autotune.ts';
import type { AutotuneOption } from './kernel-choice.ts';

export { CHAT_TEMPERATURE, SAMPLING_DEFAULTS, type SamplingOptions } from '../kernels/sampling-options.ts';
export type { ContextShift, FinishReason } from '../runtime/session.ts';
export type { LimitsTier } from '../gpu/device.ts';

/** Where a model comes from: a URL (downloaded into the model store), a stored model's id, or bytes. */
export type ModelSource =
  | { kind: 'url'; url: string; sha256?: string; name?: string }
  | { kind: 'stored'; id: string }
  | { kind: 'file'; file: Blob; name?: string };

export type LoadPhase = 'download' | 'verify' | 'upload' | 'compile';

/** Load progress. In the 'compile' phase bytesDone/bytesTotal count GPU kernels (pipelines), not bytes. */
export interface LoadProgress {
  phase: LoadPhase;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the recent window (download/upload phases). */
  rate?: number;
  /** Seconds remaining at the current rate. */
  etaSeconds?: number;
  /** A failed request is about to be tried again: attempt `attempt` of `of`. */
  retry?: { attempt: number; of: number };
}

export interface LoadOptions {
  /**
   * KV-cache length in tokens; default min(model context, 2048). Above the model's trained
   * context is allowed, with a warning in ModelInfo.warnings.
   */
  contextSize?: number;
  /**
   * Which GPU limits to run under: 'adapter' (all the GPU offers, the default), 'default'
   * (WebGPU's default limits: 128 MiB bindings, 256 MiB buffers) or 'mobile' (those, with 16 KiB
   * of workgroup storage). The device is created with them, so every size decision follows.
   */
  limits?: LimitsTier;
  /**
   * Most GPU bytes the model may take (weights + KV cache + scratch), checked from the header
   * before anything is allocated: over it, the load fails with a GpuMemoryBudgetError naming the
   * largest context that fits.
   */
  maxGpuBytes?: number;
  /**
   * What the decode mat-vecs read: 'int8' quantizes activations per 32-element block and takes
   * int8 dot products (dot4I8Packed, needs the WGSL feature packed_4x8_integer_dot_product), 'f32'
   * reads them as they are, 'auto' (the default) is int8 where the device has the feature.
   */
  activations?: ActivationsOption;
  /**
   * On-device autotuning of the kernel variants (kernels/autotune.ts): 'auto' (the default) on a
   * hardware GPU, not on a software adapter; 'on' on any adapter; 'off' keeps the device
   * defaults; 'retune' times again even when the store holds a choice for this device and model.
   */
  autotune?: AutotuneOption;
  signal?: AbortSignal;
  onProgress?: (p: LoadProgress) => void;
}

/**
 * The sampling options (left out, they take SAMPLING_DEFAULTS: greedy, filters and penalties off;
 * chat() samples at CHAT_TEMPERATURE unless a temperature is given) and the generation's controls.
 */
export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number;
  /** Generation ends before any of these strings; the string itself is not emitted. */
  stop?: string[];
  /** Add BOS as the model's metadata asks (default true for raw prompts). */
  addBos?: boolean;
  signal?: AbortSignal;
  /** Record the 5 most likely tokens per step (softmax of raw logits, temperature 1). */
  topLogprobs?: boolean;
  /**
   * Opt-in context shift (llama.cpp's n_keep): when the conversation does not fit the context,
   * keep its first `keep` tokens (in chat() at least the system prompt's), drop the oldest half
   * of the rest and go on generating. Without it, a prompt that fills the context is a ContextOverflowError and
   * generation ends with finishReason 'length' when the context is full.
   */
  contextShift?: ContextShift;
}

export interface GeneratedToken {
  id: number;
  /** Text this token completes (may be '' while a multi-byte character is incomplete). */
  text: string;
  /** With topLogprobs: [[id, prob] × 5] from the raw logits' softmax. */
  top?: [number, number][];
}

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  timeToFirstTokenMs: number;
  finishReason: FinishReason;
  /** With GenerateOptions.contextShift: how many times the context was shifted. */
  contextShifts?: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ModelInfo {
  name: string;
  architecture: string;
  parameters: number;
  contextSize: number;
  modelContextLength: number;
  vocabSize: number;
  fileBytes: number;
  /** Bytes of GPU memory allocated for weights, KV cache and scratch. */
  gpuBytes: { weights: number; kvCache: number; scratch: number };
  tensorTypes: Record<string, number>;
  hasChatTemplate: boolean;
  adapter: string;
  /** The limits the model runs under (LoadOptions.limits); always set by the engine. */
  limits?: LimitsTier;
  /** The activations the decode mat-vecs read (LoadOptions.activations, resolved); always set by the engine. */
  activations?: ActivationPrecision;
  /** The kernel variants the model runs with, and how they were chosen; always set by the engine. */
  kernels?: { source: 'forced' | 'default' | 'cache' | 'measured'; variants: KernelVariants };
  /**
   * Things the user should know that did not stop the load, one sentence each: e.g. a context
   * size above the model's trained length. The CLI prints them on stderr; <llm-chat> may show them.
   */
  warnings?: string[];
}

/** A stream of tokens that also reports how the generation went once it ends. */
export interface TokenStream extends AsyncIterable<GeneratedToken> {
  /** Resolves when the stream ends (also on abort). */
  readonly stats: Promise<GenerationStats>;
}

export interface CachedModel {
  id: string;
  name: string;
  url?: string;
  bytes: number;
  complete: boolean;
  bytesStored: number;
  lastUsed?: number;
}

/** What both the in-process engine and the worker client implement. */
export interface LlmEngine {
  readonly info: ModelInfo;
  generate(prompt: string | number[], options?: GenerateOptions): TokenStream;
  chat(messages: ChatMessage[], options?: GenerateOptions): TokenStream;
  /** Tokens of the rendered chat prompt, e.g. to check it fits the context. */
  countTokens(text: string): Promise<number>;
  /** Clears the KV cache (a new conversation). */
  reset(): Promise<void>;
  /** Frees GPU memory; the engine is unusable afterwards. */
  dispose(): Promise<void>;
  /**
   * Resolves (never rejects) when the engine can no longer run because its GPU device was lost,
   * with a DeviceLostError; from then on its calls fail with that error. Loading the model again
   * gets a new device. Absent on engines that cannot lose a device.
   */
  readonly lost?: Promise<Error>;
}
