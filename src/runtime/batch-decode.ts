/**
 * Batched decode over several sessions (an engine's slots, `lowbit serve --parallel N`): one
 * submission advances every decoding sequence by one token.
 *
 * Each session keeps its own ForwardPass: KV cache, token history, step and sampling parameters.
 * A batch step runs one more pass (`rows`, built for one row per slot) whose linears, norms and
 * embedding take every sequence as a row of one mat-mul, so each weight is read once per step
 * instead of once per sequence. What belongs to one sequence runs per row in the same
 * submission, against that row's session:
 *   - its next token id is copied from its history (where its sampler wrote it) into the batch's;
 *   - RoPE + KV store and attention. When the sessions' caches are the slots of one SlotKvCache
 *     (the engine's default), one dispatch of each per layer covers every row: a row table
 *     written once per step gives each row its position and slot, and each row's arithmetic is
 *     the one-token kernels' (so, the same bits). Otherwise each row runs its session's own
 *     kernels, bound once to the rows pass's q/k/v/attention buffers and to its KV cache and step
 *     parameters, at its position on the row the step parameters name (StepParams.row);
 *   - sampling: a greedy row without penalties or a top-K report takes its token from one argmax
 *     over every row's logits, copied into its history as its session's argmax would write it;
 *     for any other row the logits are copied into the session's logits buffer and the session's
 *     own penalties / sampler / argmax run with its sampling options and seed.
 * The chosen tokens of all rows are copied into one staging buffer (4 bytes a row, plus the top-K
 * report for rows that asked for it) and read back together.
 *
 * Rows are assigned in each step to the sequences still decoding, in order, so sequences join
 * (after their own prefill, which stays a submission of their session) and leave between any two
 * steps; a row is a step parameter and copies take their offsets at encode time, so no step
 * creates a GPU object.
 *
 * A row's result does not depend on the other rows (the linears compute each row alone, the
 * per-sequence kernels see only their sequence): a sequence gets the same tokens whether it
 * decodes alone or next to others. With int8 activations (ForwardPass.int8Rows) the rows pass is
 * wired as single-slot decode and its int8 mat-vecs take each row in the one-token order, so a
 * row decodes as its session would alone; with f32 ones it runs the f32 row-mode mat-mul, whose
 * numbers are those of prefill rather than of single-slot decode (close, not bit-equal).
 */
import type { GpuContext } from '../gpu/device.ts';
import { createStorageBuffer } from '../gpu/buffers.ts';
import { maxWeightPartBytes } from '../gpu/weights.ts';
import type { AttentionBindings, SlotRows } from '../kernels/attention.ts';
import type { KernelCall, StepShape } from '../kernels/common.ts';
import type { RopeBindings } from '../kernels/rope.ts';
import { createArgmax, decodeTopProbs } from '../kernels/sample.ts';
import { encodeStepParams } from '../kernels/step-params.ts';
import type { ModelConfig } from '../model/config.ts';
import { batchReadbackBytes, forwardBufferPlan, READBACK_RING, TOP_PROBS_BYTES, TOP_PROBS_K } from './buffer-plan.ts';
import type { ForwardPass, KvCacheSlot, SequenceKernels, TokenChoice } from './forward.ts';
import type { StepResult } from './session.ts';

/** A sequence decoding in the batch: what Session.run hands over once its prompt is prefilled. */
export interface BatchSequence {
  /** The session's pass: its KV cache, history, sampling parameters. */
  forward: ForwardPass;
  /** Position of the next token to feed (its K/V are written there). */
  pos: number;
  /** Decode steps it may still take. */
  stepsLeft: number;
  choose: TokenChoice;
  penalties: boolean;
  topProbs: boolean;
  /** No step is submitted for it once aborted. */
  signal?: AbortSignal;
  /** Each token read back, in order; true ends the sequence (later tokens in flight are dropped). */
  accept(r: StepResult): boolean;
}

/**
 * The KV caches of an engine's slots as one K and one V buffer per layer, slot-major: slot s's
 * cache starts s × stride bytes in, the stride being one cache's bytes rounded up to the device's
 * storage offset alignment. Each slot's pass runs over its own range (ForwardOptions.kvCache) with
 * the kernels it would run over buffers of its own; a batched step reaches every slot's cache
 * from one dispatch per layer (SlotRows).
 */
export class SlotKvCache {
  readonly k: GPUBuffer[] = [];
  readonly v: GPUBuffer[] = [];
  /** What the batched kernels need to find a slot's cache. */
  readonly rows: SlotRows;
  /** Bytes allocated (the slots' caches and the alignment padding between them). */
  readonly bytes: number;
  private readonly cache: { k: number; v: number };
  private readonly stride: { k: number; v: number };

  /**
   * The layout, or undefined when a layer's buffer of `slots` caches would exceed this device's
   * storage binding limit (each slot then keeps buffers of its own).
   */
  static layout(ctx: GpuContext, cfg: ModelConfig, contextSize: number, slots: number) {
    const plan = forwardBufferPlan(cfg, { contextSize, maxBatch: 1 });
    const cache = { k: plan.find((b) => b.label === 'kCache.0')!.bytes, v: plan.find((b) => b.label === 'vCache.0')!.bytes };
    const align = ctx.limits.minStorageBufferOffsetAlignment;
    const stride = { k: Math.ceil(cache.k / align) * align, v: Math.ceil(cache.v / align) * align };
    if (slots < 1 || Math.max(stride.k, stride.v) * slots > maxWeightPartBytes(ctx)) return undefined;
    return { cache, stride };
  }

  constructor(
    ctx: GpuContext,
    cfg: ModelConfig,
    contextSize: number,
    readonly slots: number,
  ) {
    const layout = SlotKvCache.layout(ctx, cfg, contextSize, slots);
    if (!layout) throw new RangeError(`${slots} slots of ${contextSize} positions do not fit one KV buffer per layer on this device`);
    this.cache = layout.cache;
    this.stride = layout.stride;
    for (let l = 0; l < cfg.nLayer; l++) {
      this.k.push(createStorageBuffer(ctx, this.stride.k * slots, { label: `slotKv.k.${l}` }));
      this.v.push(createStorageBuffer(ctx, this.stride.v * slots, { label: `slotKv.v.${l}` }));
    }
    this.bytes = cfg.nLayer * slots * (this.stride.k + this.stride.v);
    this.rows = { maxRows: slots, slotElements: { k: this.stride.k / 4, v: this.stride.v / 4 } };
  }

  /** Slot `i`'s ranges, for its pass's ForwardOptions.kvCache. */
  slot(i: number): KvCacheSlot {
    if (!Number.isInteger(i) || i < 0 || i >= this.slots) throw new RangeError(`slot ${i} outside 0…${this.slots - 1}`);
    return {
      k: this.k.map((buffer) => ({ buffer, offset: i * this.stride.k, size: this.cache.k })),
      v: this.v.map((buffer) => ({ buffer, offset: i * this.stride.v, size: this.cache.v })),
    };
  }

  destroy(): void {
    for (const b of [...this.k, ...this.v]) b.destroy();
  }
}

/** Stands in the rows graph for one layer's RoPE + KV store or attention: encoded per row by BatchDecoder. */
class PerSequence implements KernelCall {
  constructor(
    readonly kind: 'rope' | 'attention',
    readonly layer: number,
  ) {}
  encode(): void {
    throw new Error('a per-sequence call is encoded by BatchDecoder');
  }
}

interface Running extends BatchSequence {
  done: boolean;
  /** What its accept() threw: it ends the sequence, with this error, and no other. */
  error?: unknown;
  /** Submitted steps not read back yet. */
  inFlight: number;
  steps: number;
  settle(steps: number): void;
  fail(e: unknown): void;
}

interface Flight {
  rows: Running[];
  staging: GPUBuffer;
  mappedBytes: number;
  done: Promise<void>;
}

export class BatchDecoder {
  /** Steps kept in flight before waiting for a readback (as Session.lag). */
  lag = 3;
  /** Submissions made (one per batch step). */
  submissions = 0;
  private readonly body: KernelCall[];
  /** Per session, per layer: its RoPE + KV store and attention calls. */
  private readonly sequences = new Map<ForwardPass, { rope: KernelCall[]; attention: KernelCall[] }>();
  private readonly staging: GPUBuffer[] = [];
  /** With a SlotKvCache: u32 (position, slot) per row of the step, for the batched RoPE and attention. */
  private readonly rowTable: GPUBuffer | undefined;
  /** The greedy choice over every row's logits (one dispatch pair a step), into `rowTokens`. */
  private readonly rowsArgmax: KernelCall;
  /** u32 per row: the token rowsArgmax chose. */
  private readonly rowTokens: GPUBuffer;
  /** Each session's index: its slot in the SlotKvCache, if any. */
  private readonly slotOf = new Map<ForwardPass, number>();
  private readonly tokensBytes: number;
  private ring = 0;
  private running: Running[] = [];
  private loop: Promise<void> | null = null;

  /**
   * `rows`: a pass over the same weights built with maxBatch = the number of sessions (one row
   * each), contextSize ≥ that (its history holds the step's token ids) and allLogits. The
   * decoder owns it from here and destroys it with itself. `slotKv`: the caches the sessions run
   * over, session i in slot i (ForwardOptions.kvCache); the decoder owns and destroys it too.
   */
  constructor(
    private readonly ctx: GpuContext,
    sessions: readonly ForwardPass[],
    private readonly rows: ForwardPass,
    private readonly slotKv?: SlotKvCache,
  ) {
    const maxRows = rows.options.maxBatch;
    if (sessions.length < 1 || sessions.length > maxRows)
      throw new RangeError(`a batch of ${maxRows} rows cannot hold ${sessions.length} sessions`);
    if (rows.options.contextSize < maxRows) throw new RangeError('the rows pass needs a history entry per row');
    sessions.forEach((s, i) => {
      if (s.options.contextSize !== sessions[0]!.options.contextSize) throw new RangeError('batched sessions must have one context size');
      const k = s.layerKvCache(0).k;
      if (slotKv && (!('buffer' in k) || k.buffer !== slotKv.k[0] || k.offset !== slotKv.slot(i).k[0]!.offset))
        throw new RangeError(`session ${i} does not run over slot ${i} of the shared KV cache`);
      this.slotOf.set(s, i);
    });
    if (slotKv) {
      // One RoPE + KV store and one attention per layer over every row (SlotRows), bound to the
      // rows pass's q/k/v/attention buffers, the layer's shared caches and the row table.
      const rowTable = createStorageBuffer(ctx, maxRows * 8, { label: 'batch.rowTable', usage: GPUBufferUsage.COPY_DST });
      this.rowTable = rowTable;
      const kernels = sessions[0]!.sequenceKernels(1, slotKv.rows);
      let ropeLayer = 0;
      let attentionLayer = 0;
      this.body = rows.batchedBody({
        rope: { bind: (b) => kernels.rope.bind({ ...b, kCache: slotKv.k[ropeLayer], vCache: slotKv.v[ropeLayer++], rows: rowTable }) },
        attention: {
          bind: (b) =>
            kernels.attention.bind({ ...b, kCache: slotKv.k[attentionLayer], vCache: slotKv.v[attentionLayer++], rows: rowTable }),
        },
      });
    } else {
      this.body = this.perSequenceBody(sessions);
    }
    this.rowTokens = createStorageBuffer(ctx, maxRows * 4, { label: 'batch.rowTokens', usage: GPUBufferUsage.COPY_SRC });
    this.rowsArgmax = createArgmax(ctx, { vocab: rows.cfg.vocabSize, rows: maxRows }).bind({
      params: rows.buffers.stepParams,
      logits: rows.buffers.allLogits!,
      out: this.rowTokens,
    });
    this.tokensBytes = batchReadbackBytes(maxRows) - maxRows * TOP_PROBS_BYTES; // top-K reports start 8-byte aligned
    for (let i = 0; i < READBACK_RING; i++) {
      this.staging.push(
        ctx.device.createBuffer({
          label: `batch.readback.${i}`,
          size: batchReadbackBytes(maxRows),
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        }),
      );
    }
  }

  /** The rows graph with each session's own RoPE + KV store and attention, encoded per row (no SlotKvCache). */
  private perSequenceBody(sessions: readonly ForwardPass[]): KernelCall[] {
    // Every session has the same shapes and context, so one set of kernels serves them all (the
    // attention's split-K partials are shared as the layers of one pass share them).
    const kernels = sessions[0]!.sequenceKernels(1);
    const ropeBindings: RopeBindings[] = [];
    const attentionBindings: AttentionBindings[] = [];
    const perRow: SequenceKernels = {
      rope: { bind: (b) => new PerSequence('rope', ropeBindings.push(b) - 1) },
      attention: { bind: (b) => new PerSequence('attention', attentionBindings.push(b) - 1) },
    };
    const body = this.rows.batchedBody(perRow);
    for (const s of sessions) {
      const params = s.buffers.stepParams;
      const kv = (l: number) => ({ kCache: s.layerKvCache(l).k, vCache: s.layerKvCache(l).v });
      this.sequences.set(s, {
        rope: ropeBindings.map((b, l) => kernels.rope.bind({ ...b, params, ...kv(l) })),
        attention: attentionBindings.map((b, l) => kernels.attention.bind({ ...b, params, ...kv(l) })),
      });
    }
    return body;
  }

  /** GPU bytes of the rows pass and the decoder's own buffers. */
  get gpuBytes(): number {
    const own = [...this.staging, this.rowTokens, ...(this.rowTable ? [this.rowTable] : [])].reduce((s, b) => s + b.size, 0);
    return this.rows.kvCacheBytes + this.rows.scratchBytes + own;
  }

  /** Sequences decoding now. */
  get active(): number {
    return this.running.length;
  }

  /**
   * Decodes `seq` in the shared batch from the next step on; resolves with the steps it took once
   * it has ended (accept returned true, its steps ran out, its context filled or its signal
   * aborted) and none of its steps is still in flight.
   */
  decode(seq: BatchSequence): Promise<number> {
    if (!this.slotOf.has(seq.forward)) throw new RangeError('this session is not one of the batch');
    if (this.running.some((r) => r.forward === seq.forward)) throw new Error('this session is already decoding in the batch');
    return new Promise<number>((settle, fail) => {
      this.running.push({ ...seq, done: false, inFlight: 0, steps: 0, settle, fail });
      this.loop ??= this.drive().finally(() => (this.loop = null));
    });
  }

  private wantsStep(r: Running): boolean {
    return !r.done && r.stepsLeft > 0 && r.pos < r.forward.options.contextSize && !r.signal?.aborted;
  }

  /** The shared step loop: runs while any sequence decodes. */
  private async drive(): Promise<void> {
    const flights: Flight[] = [];
    try {
      for (;;) {
        while (flights.length <= this.lag) {
          const rows = this.running.filter((r) => this.wantsStep(r));
          if (rows.length === 0) break;
          flights.push(this.submit(rows));
        }
        this.settleEnded();
        const f = flights.shift();
        if (!f) break;
        await f.done;
        const words = new Uint32Array(f.staging.getMappedRange(0, f.mappedBytes).slice(0));
        f.staging.unmap();
        const topBase = this.tokensBytes / 4;
        f.rows.forEach((r, row) => {
          r.inFlight--;
          if (r.done) return;
          const result: StepResult = { token: words[row]! };
          if (r.topProbs) {
            const at = topBase + (row * TOP_PROBS_BYTES) / 4;
            result.top = decodeTopProbs(words.subarray(at, at + TOP_PROBS_BYTES / 4), TOP_PROBS_K).map((p) => [p.id, p.prob]);
          }
          try {
            if (r.accept(result)) r.done = true;
          } catch (e) {
            r.done = true;
            r.error = e;
          }
        });
      }
    } catch (e) {
      for (const r of this.running.splice(0)) r.fail(e);
      // Drain readbacks still in flight so their staging buffers can be mapped again.
      for (const f of flights) {
        await f.done.catch(() => undefined);
        f.staging.unmap();
      }
    }
  }

  /** Hands back every sequence that will take no more steps and has none in flight. */
  private settleEnded(): void {
    this.running = this.running.filter((r) => {
      if (r.inFlight > 0 || this.wantsStep(r)) return true;
      if (r.error !== undefined) r.fail(r.error);
      else r.settle(r.steps);
      return false;
    });
  }

  /** Encodes and submits one step over `rows` (row i = rows[i]), with its readback. */
  private submit(rows: Running[]): Flight {
    const { device } = this.ctx;
    const n = rows.length;
    const rp = this.rows;
    const { cfg } = rp;
    const steps: StepShape[] = rows.map((r) => ({ pos0: r.pos, nTokens: 1 }));
    const batchStep: StepShape = { pos0: 0, nTokens: n, maxPos: Math.max(...rows.map((r) => r.pos)) };
    device.queue.writeBuffer(rp.buffers.stepParams, 0, encodeStepParams(batchStep));
    // A session's step parameters place its sampled token in its history (and, without a row
    // table, its row and position for its own RoPE and attention).
    rows.forEach((r, row) => device.queue.writeBuffer(r.forward.buffers.stepParams, 0, encodeStepParams({ ...steps[row]!, row })));
    if (this.rowTable)
      device.queue.writeBuffer(this.rowTable, 0, new Uint32Array(rows.flatMap((r) => [r.pos, this.slotOf.get(r.forward)!])));
    const seqs = rows.map((r) => this.sequences.get(r.forward)!);
    const enc = device.createCommandEncoder();
    // Each row's next token, where its sampler (or its prefill) wrote it.
    rows.forEach((r, i) => enc.copyBufferToBuffer(r.forward.buffers.history, r.pos * 4, rp.buffers.history, i * 4, 4));
    // A greedy row without penalties or a top-K report takes the argmax over every row's logits
    // (exact: the token its session's argmax picks); the others run their session's own choice.
    const plain = rows.map((r) => r.choose === 'greedy' && !r.penalties && !r.topProbs);
    let pass = enc.beginComputePass();
    for (const call of this.body) {
      if (call instanceof PerSequence) seqs.forEach((s, i) => s[call.kind][call.layer]!.encode(pass, steps[i]));
      else call.encode(pass, batchStep);
    }
    if (plain.some(Boolean)) this.rowsArgmax.encode(pass, batchStep);
    pass.end();
    if (!plain.every(Boolean)) {
      const logitsBytes = cfg.vocabSize * 4;
      rows.forEach((r, i) => {
        if (!plain[i]) enc.copyBufferToBuffer(rp.buffers.allLogits!, i * logitsBytes, r.forward.buffers.logits, 0, logitsBytes);
      });
      pass = enc.beginComputePass();
      rows.forEach((r, i) => {
        if (!plain[i]) r.forward.encodeChoice(pass, { choose: r.choose, penalties: r.penalties, topProbs: r.topProbs });
      });
      pass.end();
    }
    const staging = this.staging[this.ring]!;
    this.ring = (this.ring + 1) % READBACK_RING;
    const anyTop = rows.some((r) => r.topProbs);
    rows.forEach((r, i) => {
      if (plain[i]) {
        // Where its session's argmax would have put it: its history at the next position.
        enc.copyBufferToBuffer(this.rowTokens, i * 4, r.forward.buffers.history, (r.pos + 1) * 4, 4);
        enc.copyBufferToBuffer(this.rowTokens, i * 4, staging, i * 4, 4);
        return;
      }
      enc.copyBufferToBuffer(r.forward.buffers.chosen, 0, staging, i * 4, 4);
      if (r.topProbs)
        enc.copyBufferToBuffer(r.forward.buffers.topProbs, 0, staging, this.tokensBytes + i * TOP_PROBS_BYTES, TOP_PROBS_BYTES);
    });
    device.queue.submit([enc.finish()]);
    this.submissions++;
    // Only the token ids are mapped unless a row asked for its top-K report.
    const mappedBytes = anyTop ? staging.size : Math.ceil((n * 4) / 8) * 8;
    for (const r of rows) {
      r.pos++;
      r.stepsLeft--;
      r.inFlight++;
      r.steps++;
    }
    return { rows, staging, mappedBytes, done: staging.mapAsync(GPUMapMode.READ, 0, mappedBytes) };
  }

  /** Waits for the sequences decoding now, then frees the rows pass and the decoder's buffers. */
  async destroy(): Promise<void> {
    await this.loop?.catch(() => undefined);
    for (const b of this.staging) b.destroy();
    this.staging.length = 0;
    this.rowTable?.destroy();
    this.rowTokens.destroy();
    this.slotKv?.destroy();
    this.rows.destroy();
  }
}
