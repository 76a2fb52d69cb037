/**
 * Hands the engine's slots (one conversation and KV cache each) to requests: a free slot at once,
 * the one whose cached tokens share the longest prefix with the prompt (so a conversation that
 * comes back skips the prefill of everything it said before); when every slot is busy, a place in
 * a bounded first-come queue; past that, a QueueFullError the server turns into 429.
 *
 * The scheduler only decides which request runs on which slot and when; how a slot's steps reach
 * the GPU is the slot's business (EngineSlot.run): either its own decode steps, interleaved on the
 * one queue, or the engine's batched decode (runtime/batch-decode.ts), which each run joins after
 * its prompt's prefill and which advances every decoding slot in one submission.
 */
import { LowbitError } from '../errors.ts';

/** What the scheduler reads of a slot. */
export interface SchedulableSlot {
  readonly index: number;
  /** Tokens whose K/V the slot holds. */
  readonly cachedTokens: readonly number[];
}

/** A slot given to one request; release() hands it to the next (once; later calls do nothing). */
export interface SlotLease<S extends SchedulableSlot> {
  readonly slot: S;
  release(): void;
}

/** Every slot busy and the queue full: the request is refused (HTTP 429 with Retry-After). */
export class QueueFullError extends LowbitError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The scheduler was closed (the server is shutting down) while the request waited. */
export class SchedulerClosedError extends LowbitError {}

interface Waiter<S extends SchedulableSlot> {
  tokens: readonly number[];
  grant(lease: SlotLease<S>): void;
  fail(e: unknown): void;
}

/** Tokens `a` and `b` share at their start. */
export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class SlotScheduler<S extends SchedulableSlot> {
  private readonly free: Set<S>;
  private readonly queue: Waiter<S>[] = [];
  /** When each slot was last released: among equal prefixes the least recently used is taken. */
  private readonly releasedAt = new Map<S, number>();
  private clock = 0;
  private closedWith: Error | null = null;

  constructor(
    private readonly slots: readonly S[],
    /** Requests that may wait for a slot; the next one is refused. */
    readonly maxQueue: number,
  ) {
    if (slots.length === 0) throw new RangeError('a scheduler needs at least one slot');
    if (!Number.isSafeInteger(maxQueue) || maxQueue < 0) throw new RangeError(`maxQueue must be an integer ≥ 0, got ${maxQueue}`);
    this.free = new Set(slots);
  }

  /** Slots running a request. */
  get busy(): number {
    return this.slots.length - this.free.size;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.queue.length;
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * A slot for a prompt of `tokens`: at once when one is free, else after the requests queued
   * before it. Rejects with QueueFullError when the queue is full, with the signal's reason when
   * it aborts while waiting, and with SchedulerClosedError after close().
   */
  acquire(tokens: readonly number[], signal?: AbortSignal): Promise<SlotLease<S>> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.free.size > 0) return Promise.resolve(this.lease(this.bestFreeSlot(tokens)));
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(
        new QueueFullError(`all ${this.slots.length} slots are busy and ${this.queue.length} requests are waiting; try again shortly`, 1),
      );
    }
    return new Promise<SlotLease<S>>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter<S> = {
        tokens,
        grant: (lease) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(lease);
        },
        fail: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  /** Refuses every waiting and later request with `reason`; leases already given stay valid. */
  close(reason: Error): void {
    this.closedWith = reason;
    for (const w of this.queue.splice(0)) w.fail(reason);
  }

  private bestFreeSlot(tokens: readonly number[]): S {
    let best: S | undefined;
    let bestShared = -1;
    for (const s of this.free) {
      const shared = commonPrefixLength(s.cachedTokens, tokens);
      const older = best !== undefined && (this.releasedAt.get(s) ?? 0) < (this.releasedAt.get(best) ?? 0);
      if (shared > bestShared || (shared === bestShared && older)) {
        best = s;
        bestShared = shared;
      }
    }
    return best!;
  }

  private lease(slot: S): SlotLease<S> {
    this.free.delete(slot);
    let released = false;
    return {
      slot,
      release: () => {
        if (released) return;
        released = true;
        this.releasedAt.set(slot, ++this.clock);
        this.free.add(slot);
        const next = this.queue.shift();
        if (next) next.grant(this.lease(this.bestFreeSlot(next.tokens)));
      },
    };
  }
}
