/**
 * The GPU buffers a loaded model's runtime creates besides its weights, and their sizes, as pure
 * functions of the model's config: the ForwardPass allocates exactly {@link forwardBufferPlan},
 * and the memory estimate (engine/memory-budget.ts) sums the same list before anything exists.
 * Kept apart from forward.ts so the estimate does not pull in the kernels (a page can size a
 * model before downloading it).
 */
import { kvCacheLayerBytes } from '../kernels/attention.ts';
import { type ActivationsOption, quantizedActivationBytes } from '../kernels/matvec-q8.ts';
import { SAMPLING_PARAMS_BYTES } from '../kernels/sample.ts';
import { encodeStepParams } from '../kernels/step-params.ts';
import type { ModelConfig } from '../model/config.ts';

/** Entries of the top-probabilities report a step can record (GeneratedToken.top). */
export const TOP_PROBS_K = 5;

/** Bytes the top-K report takes: (id u32, prob f32) per entry. */
export const TOP_PROBS_BYTES = TOP_PROBS_K * 8;
/** One readback slot of a Session: the chosen token (4), padding (4), then the top-K report. */
export const READBACK_SLOT_BYTES = 8 + TOP_PROBS_BYTES;
/** Readback slots a Session keeps (steps in flight). */
export const READBACK_RING = 8;
/** GPU bytes a Session allocates (its readback ring). */
export const SESSION_STAGING_BYTES = READBACK_RING * READBACK_SLOT_BYTES;

export interface ForwardShape {
  /** KV-cache positions. */
  contextSize: number;
  /** Most tokens one prefill submission processes. */
  maxBatch: number;
  /**
   * Decode activations for the mat-vecs (resolveActivations; default auto). Anything but f32 and
   * ggml plans the buffer of quantized activations: a bound when auto turns out f32 on the device;
   * ggml plans the buffer of rounded inputs instead.
   */
  activations?: ActivationsOption;
  /**
   * Also compute every position's logits of a step into `allLogits` ([maxBatch][vocab] f32), for
   * evaluation (perplexity, KL; runtime/evaluate.ts). Generation never needs it.
   */
  allLogits?: boolean;
  /**
   * The pass runs one decode token per sequence as its rows (batch-decode.ts), a few at a time:
   * its mat-muls decode each weight chunk once for all rows (the row-mode kernel) instead of
   * using the tiled GEMM sized for prefill chunks; with int8 activations its int8 mat-vecs take
   * the rows, so its quantized activations hold a row per sequence.
   */
  decodeRows?: boolean;
}

/** One buffer the forward pass creates, at the size it is created with. */
export interface ForwardBufferSpec {
  label: string;
  bytes: number;
  kind: 'activation' | 'kvCache' | 'io';
}

const storageBytes = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);
const uniformBytes = (n: number) => Math.max(16, Math.ceil(n / 16) * 16);

/**
 * Every buffer a ForwardPass of this shape allocates, with its size: `allocate()` creates exactly
 * these, and the memory estimate (engine/memory-budget.ts) sums them before anything is created,
 * so the two cannot drift apart.
 */
export function forwardBufferPlan(cfg: ModelConfig, options: ForwardShape): ForwardBufferSpec[] {
  const { contextSize, maxBatch: T } = options;
  const { nEmbd, nHead, nHeadKV, headDim, headDimV, nFF, vocabSize } = cfg;
  const f = 4;
  const qDim = nHead * headDim;
  const kDim = nHeadKV * headDim;
  const vDim = nHeadKV * headDimV;
  const attDim = nHead * headDimV;
  const out: ForwardBufferSpec[] = [];
  const add = (label: string, bytes: number, kind: ForwardBufferSpec['kind'] = 'activation') =>
    out.push({ label, bytes: storageBytes(bytes), kind });
  // Activations, sized for the largest batch; decode uses row 0. qn/kn/attN alias q/k/att when
  // the model has no q/k norms or sub-norms.
  add('x', T * nEmbd * f);
  add('xn', T * nEmbd * f);
  add('q', T * qDim * f);
  add('k', T * kDim * f);
  add('v', T * vDim * f);
  if (cfg.qkNorm) {
    add('qn', T * qDim * f);
    add('kn', T * kDim * f);
  }
  add('att', T * attDim * f);
  if (cfg.subNorms) add('attN', T * attDim * f);
  add('delta', T * nEmbd * f);
  add('gate', T * nFF * f);
  add('up', T * nFF * f);
  add('lastRow', nEmbd * f);
  // Decode's inputs of the linears, quantized to int8 blocks (one token, or one per row of a
  // batched decode's rows pass): those made from the residual stream, and the others (so that a
  // mat-vec can quantize its output for the next one into the buffer it does not read: forward.ts).
  if (options.activations === 'ggml') {
    // A linear's input rounded as llama.cpp rounds it (kernels/ggml-round.ts), for every row.
    add('actRound', T * Math.max(nEmbd, attDim, nFF) * f);
  } else if (options.activations !== 'f32') {
    const rows = options.decodeRows ? T : 1;
    add('actQ8', rows * quantizedActivationBytes(nEmbd));
    add('actQ8b', rows * quantizedActivationBytes(Math.max(nEmbd, attDim, nFF)));
  }
  const kBytes = kvCacheLayerBytes({ headDim, nKvHeads: nHeadKV, maxCtx: contextSize });
  const vBytes = kvCacheLayerBytes({ headDim: headDimV, nKvHeads: nHeadKV, maxCtx: contextSize });
  for (let l = 0; l < cfg.nLayer; l++) {
    add(`kCache.${l}`, kBytes, 'kvCache');
    add(`vCache.${l}`, vBytes, 'kvCache');
  }
  out.push({ label: 'stepParams', bytes: uniformBytes(encodeStepParams({ pos0: 0, nTokens: 1 }).byteLength), kind: 'io' });
  out.push({ label: 'samplingParams', bytes: uniformBytes(SAMPLING_PARAMS_BYTES), kind: 'io' });
  add('history', (contextSize + 1) * 4, 'io');
  add('chosen', 4, 'io');
  add('logits', vocabSize * f, 'io');
  add('topProbs', TOP_PROBS_K * 8, 'io');
  if (options.allLogits) add('allLogits', T * vocabSize * f, 'io');
  return out;
}

/**
 * GPU bytes the batched decode of `sequences` sessions adds (runtime/batch-decode.ts): its rows
 * pass (a forward pass of one row per sequence, with every row's logits) with its kernels' small
 * buffers (those of the per-sequence RoPE and attention kernels included), its readback ring, and
 * with the slots' caches side by side (SlotKvCache) the row kernels' buffers and a bound on the
 * alignment padding between slots (under 256 bytes per slot of each K and V buffer).
 */
export function batchDecodeBytes(cfg: ModelConfig, sequences: number, weightParts: number, contextSize: number): number {
  const rows = forwardBufferBytes(
    forwardBufferPlan(cfg, { contextSize: sequences, maxBatch: sequences, allLogits: true, decodeRows: true }),
  );
  // With int8 activations its linears bind an int8 mat-vec per row count (1…sequences), each with
  // its part uniforms (80 bytes), and a quantize uniform (16 bytes) each.
  const int8RowsUniforms = sequences * weightParts * (80 + 16);
  const k = kernelScratchBytes(cfg);
  // Per row: its (position, slot) entry, its chosen token, its argmax partials and its attention
  // partials for the splits its context can use (createDecodeAttention: at most one per 64
  // positions on any device's defaults).
  const rowSplits = Math.min(16, Math.ceil(contextSize / 64));
  const slotRows = storageBytes(k.ropeTable) + sequences * (8 + 4 + (k.attentionPartials / 16) * rowSplits + k.argmaxPartials);
  // Slots start at multiples of the storage offset alignment, which is at most 256 bytes.
  const slotPadding = forwardBufferPlan(cfg, { contextSize, maxBatch: 1 })
    .filter((b) => b.kind === 'kvCache')
    .reduce((sum, b) => sum + sequences * (Math.ceil(b.bytes / 256) * 256 - b.bytes), 0);
  return (
    rows.kvCache +
    rows.scratch +
    forwardKernelBytesBound(cfg, weightParts) +
    int8RowsUniforms +
    READBACK_RING * batchReadbackBytes(sequences) +
    slotRows +
    slotPadding
  );
}

/** Scratch of the RoPE, decode attention and argmax kernels, for one sequence. */
function kernelScratchBytes(cfg: ModelConfig): { ropeTable: number; attentionPartials: number; argmaxPartials: number } {
  return {
    ropeTable: (cfg.ropeDim / 2) * 8,
    // decode attention uses at most 16 splits (createDecodeAttention's hardware default).
    attentionPartials: cfg.nHead * 16 * (cfg.headDim + 2) * 4,
    argmaxPartials: 64 * 8,
  };
}

/** One readback slot of a batched step: every row's token (8-byte aligned), then every row's top-K report. */
export function batchReadbackBytes(rows: number): number {
  return Math.ceil((rows * 4) / 8) * 8 + rows * TOP_PROBS_BYTES;
}

/** KV-cache bytes and everything else (activations, step and sampling I/O) of a buffer plan. */
export function forwardBufferBytes(plan: readonly ForwardBufferSpec[]): { kvCache: number; scratch: number } {
  let kvCache = 0;
  let scratch = 0;
  for (const b of plan) {
    if (b.kind === 'kvCache') kvCache += b.bytes;
    else scratch += b.bytes;
  }
  return { kvCache, scratch };
}

/**
 * An upper bound on the small buffers the kernels of a ForwardPass create for themselves, on
 * top of {@link forwardBufferPlan}: per graph (decode and prefill) the RoPE angle table and the
 * split-K attention partials, one 48-byte uniform per weight part per linear call (both graphs
 * and the LM head), and the argmax partials. Kilobytes, but counted so an estimate is a bound.
 * `weightParts`: buffers of all weights together (a split tensor has several).
 */
export function forwardKernelBytesBound(cfg: ModelConfig, weightParts: number): number {
  const graphs = 2;
  const { ropeTable, attentionPartials, argmaxPartials } = kernelScratchBytes(cfg);
  const linearUniforms = (graphs + 1) * weightParts * 48;
  return graphs * (storageBytes(ropeTable) + storageBytes(attentionPartials)) + linearUniforms + argmaxPartials;
}
