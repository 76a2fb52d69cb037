/**
 * GPU memory a model will need, computed from its GGUF header alone: nothing is downloaded past
 * the header and nothing is allocated. The engine checks it before its first GPU buffer; a page
 * can call {@link estimateGpuMemory} on a header read over HTTP (a few KiB of range requests) to
 * tell a user a model will not fit before the download.
 *
 * weights: every tensor as the loader uploads it (split by whole rows under the binding limit,
 * each part padded to 4 bytes); kvCache and scratch: the ForwardPass's own buffer list
 * (forwardBufferPlan), plus a bound on the kernels' small buffers and the session's readback ring.
 */
import { GpuMemoryBudgetError } from '../errors.ts';
import { pad4 } from '../gpu/buffers.ts';
import { WEBGPU_DEFAULT_LIMITS } from '../gpu/device.ts';
import { maxWeightPartBytes, planRowParts } from '../gpu/weights.ts';
import { formatBytes } from '../format.ts';
import { modelConfigFromMetadata, type ModelConfig, type ModelMetadataSource } from '../model/config.ts';
import { getGpuQuantType } from '../quant/table.ts';
import type { ActivationsOption } from '../kernels/matvec-q8.ts';
import {
  batchDecodeBytes,
  forwardBufferBytes,
  forwardBufferPlan,
  forwardKernelBytesBound,
  SESSION_STAGING_BYTES,
} from '../runtime/buffer-plan.ts';

/** Context size when none is asked for: the model's, up to this. */
export const DEFAULT_CONTEXT = 2048;
/** Most prompt tokens per prefill submission when none is asked for. */
export const DEFAULT_MAX_BATCH = 64;

/** The part of a parsed GGUF header the estimate reads. */
export interface ModelHeader extends ModelMetadataSource {
  readonly tensors: readonly { readonly name: string; readonly dims: readonly number[]; readonly typeId: number }[];
}

/** The two limits that bound one buffer. */
export type BufferLimits = Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>;

export interface MemoryEstimateOptions {
  /** KV-cache length in tokens (default: the model's context, at most DEFAULT_CONTEXT). */
  contextSize?: number;
  /** Most prompt tokens per prefill submission (default DEFAULT_MAX_BATCH, at most contextSize). */
  maxBatch?: number;
  /** The device's limits (GpuContext.limits, or a DeviceProbe's numbers); default WebGPU's defaults. */
  limits?: BufferLimits;
  /** The model's config when the caller has it (else read from the header). */
  config?: ModelConfig;
  /** Conversations held at once, each with its own KV cache and scratch (default 1; EngineLoadOptions.slots). */
  sequences?: number;
  /**
   * An evaluation load (EngineLoadOptions.evaluation.allLogits: perplexity, KL, imatrix): every
   * position's logits of a step, [maxBatch][vocab] f32, and the evaluator's readback of them.
   */
  allLogits?: boolean;
  /**
   * The activations option of the load (EngineLoadOptions.activations): 'ggml' adds its buffer of
   * rounded inputs for every row of a prefill step; the default plans the int8 blocks as a bound.
   */
  activations?: ActivationsOption;
}

export interface GpuMemoryEstimate {
  contextSize: number;
  maxBatch: number;
  weights: number;
  kvCache: number;
  scratch: number;
  /** With several sequences: what their batched decode adds (batchDecodeBytes), else 0. */
  batch: number;
  /** Bytes held twice for a moment while a layer's projections are concatenated after loading (the largest group). */
  fusionTransient: number;
  /** Peak GPU bytes: the weights, plus what the sessions allocate or the concatenation's transient, whichever is larger. */
  total: number;
  /** The largest buffer that cannot be split (a layer's KV cache or an activation). */
  largestBuffer: { label: string; bytes: number };
  /** Largest buffer the device binds: min(maxStorageBufferBindingSize, maxBufferSize). */
  maxBufferBytes: number;
}

/** The context size a load uses: the requested one (above the model's own is allowed, with a warning). */
export function resolveContextSize(
  cfg: Pick<ModelConfig, 'contextLength'>,
  requested?: number,
): { contextSize: number; warnings: string[] } {
  if (requested === undefined) return { contextSize: Math.min(cfg.contextLength, DEFAULT_CONTEXT), warnings: [] };
  if (typeof requested !== 'number' || !Number.isFinite(requested))
    throw new RangeError(`contextSize must be a finite number, got ${requested}`);
  const contextSize = Math.max(1, Math.floor(requested));
  const warnings =
    contextSize > cfg.contextLength
      ? [
          `context size ${contextSize} is above the ${cfg.contextLength} tokens this model was trained with; output past that length may degrade`,
        ]
      : [];
  return { contextSize, warnings };
}

/** A layer's projections the engine concatenates after loading (runtime/fused-weights.ts). */
const FUSED_PROJECTION = /^blk\.(\d+)\.(?:(attn)_[qkv]|(ffn)_(?:gate|up))\.weight$/;

function weightBytes(file: ModelHeader, maxBufferBytes: number): { bytes: number; parts: number; fusionTransient: number } {
  let bytes = 0;
  let parts = 0;
  const groups = new Map<string, number>();
  for (const t of file.tensors) {
    const cols = t.dims[0] ?? 1;
    const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
    // The loader's rule: rows in the GPU layout the quant table gives (no trailer), split by planRowParts.
    const rowBytes = getGpuQuantType(t.typeId, t.name).gpuRowBytes(cols, t.name);
    let tensorBytes = 0;
    for (const p of planRowParts(rows, rowBytes, maxBufferBytes, t.name)) {
      tensorBytes += pad4(p.rowCount * rowBytes);
      parts++;
    }
    bytes += tensorBytes;
    const m = FUSED_PROJECTION.exec(t.name);
    if (m) groups.set(`${m[1]}.${m[2] ?? m[3]}`, (groups.get(`${m[1]}.${m[2] ?? m[3]}`) ?? 0) + tensorBytes);
  }
  // Q/K/V and gate/up are copied into one weight each, one group at a time, before the members
  // are freed: for a moment the largest group is held twice.
  const fusionTransient = Math.max(0, ...groups.values());
  return { bytes, parts, fusionTransient };
}

/** The estimate at one context size, with the weights (which do not depend on it) already summed. */
function estimateAt(
  cfg: ModelConfig,
  weights: { bytes: number; parts: number; fusionTransient: number },
  contextSize: number,
  maxBatch: number,
  maxBufferBytes: number,
  sequences: number,
  allLogits: boolean,
  activations: ActivationsOption | undefined,
): GpuMemoryEstimate {
  const plan = forwardBufferPlan(cfg, { contextSize, maxBatch, allLogits, activations });
  let largestBuffer = { label: '', bytes: 0 };
  for (const b of plan) if (b.bytes > largestBuffer.bytes) largestBuffer = { label: b.label, bytes: b.bytes };
  const fwd = forwardBufferBytes(plan);
  // The evaluator reads allLogits back through a staging buffer of the same size (runtime/evaluate.ts).
  const evaluationStaging = allLogits ? maxBatch * cfg.vocabSize * 4 : 0;
  const scratch = (fwd.scratch + forwardKernelBytesBound(cfg, weights.parts) + SESSION_STAGING_BYTES + evaluationStaging) * sequences;
  const kvCache = fwd.kvCache * sequences;
  const batch = sequences > 1 ? batchDecodeBytes(cfg, sequences, weights.parts, contextSize) : 0;
  return {
    contextSize,
    maxBatch,
    weights: weights.bytes,
    kvCache,
    scratch,
    batch,
    fusionTransient: weights.fusionTransient,
    // The concatenation runs before the KV caches, scratch and batch buffers exist.
    total: weights.bytes + Math.max(kvCache + scratch + batch, weights.fusionTransient),
    largestBuffer,
    maxBufferBytes,
  };
}

function prepare(file: ModelHeader, options: MemoryEstimateOptions) {
  const cfg = options.config ?? modelConfigFromMetadata(file);
  const { contextSize } = resolveContextSize(cfg, options.contextSize);
  const maxBatch = Math.max(1, Math.min(options.maxBatch ?? DEFAULT_MAX_BATCH, contextSize));
  const maxBufferBytes = maxWeightPartBytes({ limits: options.limits ?? WEBGPU_DEFAULT_LIMITS });
  const sequences = options.sequences ?? 1;
  if (!Number.isSafeInteger(sequences) || sequences < 1) throw new RangeError(`sequences must be a positive integer, got ${sequences}`);
  const allLogits = options.allLogits ?? false;
  return {
    cfg,
    contextSize,
    maxBatch,
    maxBufferBytes,
    sequences,
    allLogits,
    activations: options.activations,
    weights: weightBytes(file, maxBufferBytes),
  };
}

/**
 * GPU bytes a model needs at a context size, from its header. Throws ModelFormatError for a
 * tensor whose rows are not whole blocks, DeviceLimitError for a row larger than one buffer.
 */
export function estimateGpuMemory(file: ModelHeader, options: MemoryEstimateOptions = {}): GpuMemoryEstimate {
  const p = prepare(file, options);
  return estimateAt(p.cfg, p.weights, p.contextSize, p.maxBatch, p.maxBufferBytes, p.sequences, p.allLogits, p.activations);
}

export interface MemoryBudgetOptions extends MemoryEstimateOptions {
  /** Most GPU bytes the model may use in all (default: no total cap, only the per-buffer limits). */
  maxGpuBytes?: number;
}

/**
 * The estimate, or a GpuMemoryBudgetError when the model does not fit: a buffer over the device's
 * binding limit or a total over `maxGpuBytes`. The error gives both numbers and the largest
 * context size that would fit.
 */
export function checkGpuMemoryBudget(file: ModelHeader, options: MemoryBudgetOptions = {}): GpuMemoryEstimate {
  const { maxGpuBytes } = options;
  if (maxGpuBytes !== undefined && !(Number.isFinite(maxGpuBytes) && maxGpuBytes > 0)) {
    throw new RangeError(`maxGpuBytes must be a positive number, got ${maxGpuBytes}`);
  }
  const p = prepare(file, options);
  const est = estimateAt(p.cfg, p.weights, p.contextSize, p.maxBatch, p.maxBufferBytes, p.sequences, p.allLogits, p.activations);
  const fits = (e: Pick<GpuMemoryEstimate, 'total' | 'largestBuffer' | 'maxBufferBytes'>) =>
    e.largestBuffer.bytes <= e.maxBufferBytes && (maxGpuBytes === undefined || e.total <= maxGpuBytes);
  if (fits(est)) return est;

  // Everything but the weights grows with the context, so the sizes that fit are 1…largest.
  const at = (c: number) =>
    estimateAt(p.cfg, p.weights, c, Math.min(p.maxBatch, c), p.maxBufferBytes, p.sequences, p.allLogits, p.activations);
  let lo = 0;
  let hi = est.contextSize - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(at(mid))) lo = mid;
    else hi = mid - 1;
  }
  const largestContext = lo >= 1 && fits(at(lo)) ? lo : 0;
  const suggestion = largestContext > 0 ? `; a context of at most ${largestContext} tokens would fit` : '';
  if (est.largestBuffer.bytes > est.maxBufferBytes) {
    throw new GpuMemoryBudgetError(
      `a ${est.contextSize}-token context needs ${est.largestBuffer.bytes} bytes for ${est.largestBuffer.label}, over this GPU's ` +
        `buffer binding limit of ${est.maxBufferBytes} bytes${suggestion || '; no context size fits'}`,
      est.largestBuffer.bytes,
      est.maxBufferBytes,
      largestContext,
    );
  }
  const parts = `weights ${formatBytes(est.weights)}, KV cache ${formatBytes(est.kvCache)} at ${est.contextSize} tokens, scratch ${formatBytes(est.scratch)}`;
  throw new GpuMemoryBudgetError(
    `this model needs ${est.total} bytes of GPU memory (${parts}), over the budget of ${maxGpuBytes} bytes` +
      (suggestion || (est.weights > maxGpuBytes! ? '; the weights alone do not fit' : '; no context size fits')),
    est.total,
    maxGpuBytes,
    largestContext,
  );
}
