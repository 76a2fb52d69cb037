/**
 * Evaluation: run a token sequence through the model and read back the logits of every position,
 * not only the last. This is what perplexity, KL divergence against another model and activation
 * statistics (imatrix) are measured with; generation never uses it.
 *
 * The sequence is fed from position 0 in prefill steps of up to `maxBatch` tokens, each writing
 * all its rows' logits to the pass's `allLogits` buffer (ForwardOptions.allLogits), which is
 * copied to a mapped buffer and handed to the caller per step. Only the rows the caller asks for
 * (from `outputFrom` on) are copied, so scoring the second half of a chunk reads half the bytes.
 *
 * Also here: llama-perplexity's chunking (`planChunks`, `chunkTokens`, `evaluateChunks`), so
 * every measurement cuts text the same way llama.cpp does.
 */
import { ContextOverflowError, LowbitError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { maxWeightPartBytes } from '../gpu/weights.ts';
import { encodeStepParams } from '../kernels/step-params.ts';
import type { ForwardPass } from './forward.ts';

export interface EvaluateOptions {
  /** First position whose logits are read back (default 0). */
  outputFrom?: number;
  signal?: AbortSignal;
}

/** Logits of consecutive positions: `rows` × vocab values, row i is position `pos0 + i`. */
export interface LogitRows {
  pos0: number;
  rows: number;
  vocab: number;
  logits: Float32Array;
}

/** Too little text for the asked evaluation, or arguments out of range: a message the user can act on. */
export class EvaluationError extends LowbitError {}

export class Evaluator {
  private staging: GPUBuffer | null = null;

  constructor(
    private readonly ctx: GpuContext,
    readonly forward: ForwardPass,
  ) {
    if (!forward.buffers.allLogits) throw new RangeError('Evaluator needs a ForwardPass built with allLogits');
  }

  get vocabSize(): number {
    return this.forward.cfg.vocabSize;
  }

  get contextSize(): number {
    return this.forward.options.contextSize;
  }

  /**
   * Evaluates `tokens` from position 0 (the KV cache's previous contents are overwritten) and calls
   * `onRows` once per prefill step with the logits of that step's positions at or after
   * `outputFrom`. The rows' array is reused by the next step: copy what you keep.
   */
  async evaluate(tokens: readonly number[], onRows: (r: LogitRows) => void | Promise<void>, options: EvaluateOptions = {}): Promise<void> {
    const { device } = this.ctx;
    const fwd = this.forward;
    const vocab = this.vocabSize;
    const n = tokens.length;
    if (n === 0) throw new EvaluationError('nothing to evaluate: no tokens');
    if (n > this.contextSize) {
      throw new ContextOverflowError(`${n} tokens to evaluate, but the context holds ${this.contextSize}`, n, this.contextSize);
    }
    // Ids index the embedding on the GPU, where one out of range would read another row.
    const bad = tokens.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad >= 0) throw new EvaluationError(`token ${bad} is ${tokens[bad]}, not a token id of this model (0..${vocab - 1})`);
    const outputFrom = options.outputFrom ?? 0;
    if (!Number.isInteger(outputFrom) || outputFrom < 0 || outputFrom >= n) {
      throw new RangeError(`outputFrom must be a position in 0..${n - 1}, got ${outputFrom}`);
    }
    const maxBatch = fwd.options.maxBatch;
    const rowBytes = vocab * 4;
    const staging = this.stagingBuffer(Math.min(maxBatch, n - outputFrom) * rowBytes);
    const bufs = fwd.buffers;
    device.queue.writeBuffer(bufs.history, 0, new Uint32Array(tokens));
    for (let pos = 0; pos < n;) {
      options.signal?.throwIfAborted();
      const nTokens = Math.min(maxBatch, n - pos);
      const step = { pos0: pos, nTokens };
      device.queue.writeBuffer(bufs.stepParams, 0, encodeStepParams(step));
      const enc = device.createCommandEncoder();
      const firstRow = Math.max(0, outputFrom - pos);
      const wanted = nTokens - firstRow;
      fwd.encodeStep(enc, step, { logits: false, allLogits: wanted > 0, prompt: true });
      if (wanted > 0) enc.copyBufferToBuffer(bufs.allLogits!, firstRow * rowBytes, staging, 0, wanted * rowBytes);
      device.queue.submit([enc.finish()]);
      if (wanted > 0) {
        await staging.mapAsync(GPUMapMode.READ, 0, wanted * rowBytes);
        try {
          const logits = new Float32Array(staging.getMappedRange(0, wanted * rowBytes).slice(0));
          await onRows({ pos0: pos + firstRow, rows: wanted, vocab, logits });
        } finally {
          staging.unmap();
        }
      }
      pos += nTokens;
    }
  }

  private stagingBuffer(bytes: number): GPUBuffer {
    if (this.staging && this.staging.size >= bytes) return this.staging;
    this.staging?.destroy();
    this.staging = this.ctx.device.createBuffer({
      label: 'evaluate.staging',
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    return this.staging;
  }

  destroy(): void {
    this.staging?.destroy();
    this.staging = null;
  }
}

/**
 * Prefill batch of an evaluation pass: whole chunks of `ctx` tokens at once (as llama-perplexity
 * -b ctx) unless a chunk's logits (`vocab` f32 per position) would not fit one GPU buffer binding;
 * then the largest batch that fits.
 */
export function evaluationMaxBatch(gpu: GpuContext, vocab: number, ctx: number): number {
  return Math.max(1, Math.min(ctx, Math.floor(maxWeightPartBytes(gpu) / (vocab * 4))));
}

/** How a text's tokens are cut into evaluation chunks (llama-perplexity's method). */
export interface ChunkPlan {
  /** Tokens per chunk (-c). */
  ctx: number;
  /** Chunks evaluated. */
  chunks: number;
  /** First scored position in a chunk: ctx/2. Positions first … ctx-2 predict the next token. */
  first: number;
  /** Tokens scored per chunk: ctx - 1 - first. */
  scoredPerChunk: number;
}

/**
 * The chunks llama-perplexity evaluates `nTokens` tokens in: ⌊nTokens/ctx⌋ non-overlapping
 * chunks (at most `maxChunks`), scoring the second half of each. Like llama.cpp it refuses text
 * of fewer than 2·ctx tokens.
 */
export function planChunks(nTokens: number, ctx: number, maxChunks?: number): ChunkPlan {
  if (!Number.isInteger(ctx) || ctx < 4) throw new RangeError(`chunk size must be an integer of at least 4 tokens, got ${ctx}`);
  if (nTokens < 2 * ctx) {
    throw new EvaluationError(`the text has ${nTokens} tokens; a context of ${ctx} needs at least ${2 * ctx} (two chunks)`);
  }
  const all = Math.floor(nTokens / ctx);
  const chunks = maxChunks === undefined ? all : Math.min(all, maxChunks);
  const first = Math.floor(ctx / 2);
  return { ctx, chunks, first, scoredPerChunk: ctx - 1 - first };
}

/** Chunk `i`'s tokens, its first replaced by BOS when the model adds one (as llama-perplexity does). */
export function chunkTokens(tokens: readonly number[], plan: ChunkPlan, i: number, bos: number | null): number[] {
  const chunk = tokens.slice(i * plan.ctx, (i + 1) * plan.ctx);
  if (bos !== null) chunk[0] = bos;
  return chunk;
}

export interface ScoredChunk {
  index: number;
  /** Logits of positions first … ctx-1 of the chunk ((ctx - first) rows; the last predicts nothing scored). */
  logits: Float32Array;
  /** The token each scored row predicts: targets[j] follows row j (scoredPerChunk of them). */
  targets: Int32Array;
}

/**
 * Evaluates the plan's chunks in order, yielding each chunk's scored logits. `bos` is the BOS id
 * when the model's vocabulary adds one (tokenizer.addBos), else null.
 */
export async function* evaluateChunks(
  evaluator: Evaluator,
  tokens: readonly number[],
  plan: ChunkPlan,
  bos: number | null,
  signal?: AbortSignal,
): AsyncGenerator<ScoredChunk> {
  if (plan.ctx > evaluator.contextSize) {
    throw new EvaluationError(
      `chunks of ${plan.ctx} tokens do not fit the ${evaluator.contextSize}-token context the model was loaded with`,
    );
  }
  const vocab = evaluator.vocabSize;
  for (let i = 0; i < plan.chunks; i++) {
    const input = chunkTokens(tokens, plan, i, bos);
    const logits = new Float32Array((plan.ctx - plan.first) * vocab);
    await evaluator.evaluate(
      input,
      (r) => {
        logits.set(r.logits, (r.pos0 - plan.first) * vocab);
      },
      { outputFrom: plan.first, signal },
    );
    const start = i * plan.ctx + plan.first + 1;
    yield { index: i, logits, targets: Int32Array.from(tokens.slice(start, start + plan.scoredPerChunk)) };
  }
}
