/**
 * A generation session over one ForwardPass: owns the KV-cache contents (which tokens sit at
 * which positions), runs prefill in batches and decode one submission per token, and reads the
 * chosen tokens back asynchronously a few steps behind the GPU.
 *
 * Per decode step the CPU does: writeBuffer(stepParams), encode, copy the chosen token (4 bytes,
 * plus 8 per entry with the top-K probabilities) to a staging slot, submit, mapAsync. It waits
 * only for the step `lag` submissions back, so the GPU always has the next step queued; the token
 * feeding the next step never leaves the GPU.
 */
import { ContextOverflowError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { decodeTopProbs, encodeSamplingParams } from '../kernels/sample.ts';
import type { SamplingOptions } from '../kernels/sampling-options.ts';
import { encodeStepParams } from '../kernels/step-params.ts';
import { READBACK_RING, READBACK_SLOT_BYTES, TOP_PROBS_BYTES, TOP_PROBS_K } from './buffer-plan.ts';
import type { BatchDecoder } from './batch-decode.ts';
import type { ForwardPass } from './forward.ts';

/** Why a generation ended: a stop string, the token budget or context, an abort, end of generation. */
export type FinishReason = 'stop' | 'length' | 'abort' | 'eos';

export interface StepResult {
  token: number;
  /** With topProbs: [[id, prob] × TOP_PROBS_K] from softmax of the raw logits. */
  top?: [number, number][];
}

/**
 * What to do when the context fills up (llama.cpp's context shift): keep the first `keep` tokens
 * (BOS, the system prompt), drop the oldest half of the rest, and go on from there.
 */
export interface ContextShift {
  keep: number;
}

export interface RunOptions extends SamplingOptions {
  maxTokens: number;
  /**
   * Off (the default): a prompt longer than the context is a ContextOverflowError and generation
   * ends with 'length' when the context is full. On: both shift the context (see shiftContext).
   */
  contextShift?: ContextShift;
  topProbs?: boolean;
  signal?: AbortSignal;
  /** Called with each token as it is read back; return true to stop. */
  onToken: (r: StepResult) => boolean | void;
}

export interface RunStats {
  promptTokens: number;
  /** Prompt tokens actually computed (the rest were reused from the KV cache). */
  prefilledTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  timeToFirstTokenMs: number;
  finishReason: FinishReason;
  submissions: number;
  /** Times the context was shifted (RunOptions.contextShift). */
  contextShifts: number;
}

/** Checks a context-shift setting against the context: the kept tokens must leave room to generate. */
export function checkContextShift(shift: ContextShift, contextSize: number): void {
  const { keep } = shift;
  if (!Number.isInteger(keep) || keep < 0 || keep > contextSize - 2) {
    throw new RangeError(
      `contextShift.keep must be a whole number of tokens from 0 to ${contextSize - 2} (the context holds ${contextSize}), got ${keep}`,
    );
  }
}

/**
 * The tokens after a context shift, as llama.cpp does it (n_keep, n_discard = half of what
 * follows): the first `keep` stay, the oldest half of the rest goes, repeatedly, until the
 * sequence leaves room for at least one more token. Tokens that fit are returned as they are.
 */
export function shiftContext(tokens: readonly number[], keep: number, contextSize: number): readonly number[] {
  let shifted = tokens;
  while (shifted.length >= contextSize) {
    const discard = Math.max(1, Math.floor((shifted.length - keep) / 2));
    shifted = [...shifted.slice(0, keep), ...shifted.slice(keep + discard)];
  }
  return shifted;
}

export class Session {
  /** Tokens whose K/V are in the cache, position by position. */
  private cached: number[] = [];
  private readonly staging: GPUBuffer[] = [];
  private busy = false;
  /** Steps kept in flight before waiting for a readback. */
  lag = 3;
  /**
   * When set, decode steps after the prompt's first token run in this shared batch (one
   * submission for every session decoding) instead of one submission per step of this session.
   */
  batch?: BatchDecoder;

  constructor(
    private readonly ctx: GpuContext,
    readonly forward: ForwardPass,
  ) {
    for (let i = 0; i < READBACK_RING; i++) {
      this.staging.push(
        ctx.device.createBuffer({
          label: `readback.${i}`,
          size: READBACK_SLOT_BYTES,
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        }),
      );
    }
  }

  get contextSize(): number {
    return this.forward.options.contextSize;
  }

  /** Tokens currently held in the KV cache. */
  get cachedTokens(): readonly number[] {
    return this.cached;
  }

  reset(): void {
    this.cached = [];
  }

  /**
   * Feeds `prompt` (the whole conversation so far, as tokens) and generates up to maxTokens.
   * KV entries for the longest common prefix with the previous run are reused.
   */
  async run(prompt: readonly number[], opts: RunOptions): Promise<RunStats> {
    if (this.busy) throw new Error('this session is already generating');
    if (prompt.length === 0) throw new RangeError('empty prompt');
    if (opts.contextShift) checkContextShift(opts.contextShift, this.contextSize);
    this.busy = true;
    try {
      return opts.contextShift ? await this.runShifting(prompt, opts, opts.contextShift) : await this.runInner(prompt, opts);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Generation that shifts the context instead of stopping when it is full. The kept prefix stays
   * in the KV cache; the tokens after the dropped ones move to new positions and are computed
   * again (one batched prefill), so the result is exactly a fresh run on the shifted sequence.
   */
  private async runShifting(prompt: readonly number[], opts: RunOptions, shift: ContextShift): Promise<RunStats> {
    const ctxSize = this.contextSize;
    let tokens = shiftContext(prompt, shift.keep, ctxSize);
    let shifts = tokens === prompt ? 0 : 1;
    let total: RunStats | undefined;
    for (;;) {
      let lastToken = -1;
      const part = await this.runInner(tokens, {
        ...opts,
        maxTokens: opts.maxTokens - (total?.generatedTokens ?? 0),
        onToken: (r) => {
          lastToken = r.token;
          return opts.onToken(r);
        },
      });
      total = total ? mergeRunStats(total, part) : { ...part, promptTokens: prompt.length };
      // 'length' before the token budget is spent means the context is full: shift and go on.
      if (part.finishReason !== 'length' || part.generatedTokens === 0 || total.generatedTokens >= opts.maxTokens) break;
      // The cache holds every fed token; the last generated one is fed by the next run.
      tokens = shiftContext([...this.cached, lastToken], shift.keep, ctxSize);
      shifts++;
    }
    return { ...total, contextShifts: shifts };
  }

  private async runInner(prompt: readonly number[], opts: RunOptions): Promise<RunStats> {
    const { device } = this.ctx;
    const fwd = this.forward;
    const bufs = fwd.buffers;
    const ctxSize = this.contextSize;
    if (prompt.length > ctxSize) {
      throw new ContextOverflowError(
        `the prompt has ${prompt.length} tokens but the context holds ${ctxSize}; shorten the conversation or load the model with a larger context size`,
        prompt.length,
        ctxSize,
      );
    }
    // Reuse the cached prefix, but always recompute the last prompt token: its logits are needed.
    let keep = 0;
    while (keep < this.cached.length && keep < prompt.length - 1 && this.cached[keep] === prompt[keep]) keep++;
    this.cached.length = keep;

    // Temperature 0 or below is greedy (as llama.cpp); NaN is no temperature at all, not greedy.
    if (Number.isNaN(opts.temperature)) throw new RangeError('sampling: temperature must be a finite number, got NaN');
    const greedy = !(opts.temperature && opts.temperature > 0);
    // The penalty pass is encoded only when a penalty is on (1 and 0 are their "off" values).
    const penalties =
      (opts.repetitionPenalty !== undefined && opts.repetitionPenalty !== 1) ||
      Boolean(opts.frequencyPenalty) ||
      Boolean(opts.presencePenalty);
    // Options left out take SAMPLING_DEFAULTS in the encoder; a missing seed is fresh per run.
    const sampling: SamplingOptions = {
      ...opts,
      temperature: greedy ? 0 : opts.temperature,
      seed: (opts.seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0,
    };
    device.queue.writeBuffer(bufs.samplingParams, 0, encodeSamplingParams(sampling));
    const choose = greedy ? 'greedy' : 'sample';
    let submissions = 0;
    const t0 = performance.now();

    // Prefill: write the new prompt ids into the token history, then run them in batches.
    const fresh = prompt.slice(keep);
    device.queue.writeBuffer(bufs.history, keep * 4, new Uint32Array(fresh));
    const maxBatch = fwd.options.maxBatch;
    let pos = keep;
    let slot = 0;
    const pending: { slot: number; done: Promise<void> }[] = [];
    const submitStep = (nTokens: number, last: boolean, prompt: boolean) => {
      device.queue.writeBuffer(bufs.stepParams, 0, encodeStepParams({ pos0: pos, nTokens }));
      const enc = device.createCommandEncoder();
      fwd.encodeStep(enc, { pos0: pos, nTokens }, { logits: last, choose, penalties, topProbs: opts.topProbs, prompt });
      if (last) {
        const s = this.staging[slot]!;
        enc.copyBufferToBuffer(bufs.chosen, 0, s, 0, 4);
        if (opts.topProbs) enc.copyBufferToBuffer(bufs.topProbs, 0, s, 8, TOP_PROBS_BYTES);
        device.queue.submit([enc.finish()]);
        pending.push({ slot, done: s.mapAsync(GPUMapMode.READ) });
        slot = (slot + 1) % READBACK_RING;
      } else {
        device.queue.submit([enc.finish()]);
      }
      submissions++;
      pos += nTokens;
    };
    while (pos < prompt.length) {
      const n = Math.min(maxBatch, prompt.length - pos);
      submitStep(n, pos + n === prompt.length, true);
    }
    this.cached.push(...fresh);

    const read = async (): Promise<StepResult> => {
      const p = pending.shift()!;
      await p.done;
      const s = this.staging[p.slot]!;
      const words = new Uint32Array(s.getMappedRange().slice(0));
      s.unmap();
      const r: StepResult = { token: words[0]! };
      if (opts.topProbs) r.top = decodeTopProbs(words.subarray(2), TOP_PROBS_K).map((p) => [p.id, p.prob]);
      return r;
    };

    let generated = 0;
    // Set by accept(), a closure: typed wide so the checks after it are not narrowed away.
    let finish = 'length' as FinishReason;
    let tFirst = 0;
    // Decode steps the token budget allows after the prompt's own (each consumes the previous chosen token).
    const decodeSteps = Math.min(opts.maxTokens, ctxSize - prompt.length + 1) - 1;
    /** Takes a token read back; true when the generation ends with it. */
    const accept = (r: StepResult): boolean => {
      if (generated === 0) tFirst = performance.now();
      generated++;
      this.cached.push(r.token);
      if (opts.onToken(r) === true) {
        finish = 'stop';
        return true;
      }
      if (opts.signal?.aborted) {
        finish = 'abort';
        return true;
      }
      if (this.cached.length >= ctxSize && generated < opts.maxTokens) {
        finish = 'length';
        return true;
      }
      return false;
    };
    let submittedSteps = 0;
    try {
      if (this.batch) {
        // The first token comes from the prompt's last submission; the batch feeds it on.
        if (!accept(await read())) {
          submissions += await this.batch.decode({
            forward: fwd,
            pos,
            stepsLeft: decodeSteps,
            choose,
            penalties,
            topProbs: opts.topProbs === true,
            signal: opts.signal,
            accept,
          });
        }
      } else {
        while (generated < opts.maxTokens) {
          // Keep up to `lag` decode steps queued ahead of the token we wait for.
          while (submittedSteps < decodeSteps && pending.length <= this.lag && pos < ctxSize) {
            if (opts.signal?.aborted) break;
            submitStep(1, true, false);
            submittedSteps++;
          }
          if (pending.length === 0) break;
          if (accept(await read())) break;
        }
      }
    } finally {
      // Drain readbacks still in flight so their staging buffers can be mapped again.
      while (pending.length) {
        const p = pending.shift()!;
        await p.done.catch(() => undefined);
        this.staging[p.slot]!.unmap();
      }
    }
    if (opts.signal?.aborted && finish !== 'stop') finish = 'abort';
    // The KV cache holds K/V for every fed token; the last generated token was never fed.
    this.cached.length = Math.min(this.cached.length, prompt.length + Math.max(0, generated - 1));
    const tEnd = performance.now();
    return {
      promptTokens: prompt.length,
      prefilledTokens: fresh.length,
      generatedTokens: generated,
      prefillMs: (tFirst || tEnd) - t0,
      decodeMs: tFirst ? tEnd - tFirst : 0,
      timeToFirstTokenMs: (tFirst || tEnd) - t0,
      finishReason: finish,
      submissions,
      contextShifts: 0,
    };
  }

  destroy(): void {
    for (const s of this.staging) s.destroy();
    this.forward.destroy();
  }
}

/** Stats of a generation that went on after a context shift: the recomputation counts as decode time. */
function mergeRunStats(before: RunStats, after: RunStats): RunStats {
  return {
    promptTokens: before.promptTokens,
    prefilledTokens: before.prefilledTokens + after.prefilledTokens,
    generatedTokens: before.generatedTokens + after.generatedTokens,
    prefillMs: before.prefillMs,
    decodeMs: before.decodeMs + after.prefillMs + after.decodeMs,
    timeToFirstTokenMs: before.timeToFirstTokenMs,
    finishReason: after.finishReason,
    submissions: before.submissions + after.submissions,
    contextShifts: before.contextShifts + after.contextShifts,
  };
}
