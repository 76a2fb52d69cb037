/**
 * A pool of workers running quantize jobs, one job per worker at a time, whatever the workers are:
 * Node worker threads (node-quantize-pool.ts) or Web Workers (browser-quantize-pool.ts). The
 * values' buffer is transferred to the worker and the bytes transferred back, so nothing is copied.
 * The worker side is {@link answerQuantizeJob}.
 */
import { QuantizeError } from '../errors.ts';
import { runQuantizeJob, type JobImportance, type QuantizeJob, type QuantizeResult } from './quantize-job.ts';
import type { QuantizeRunner } from './quantize-stream.ts';

/** What the pool asks of one worker, whichever kind. */
export interface QuantizeWorkerPort {
  postMessage(message: QuantizeJobMessage, transfer: ArrayBuffer[]): void;
  /** The pool is waiting on this worker (Node: keep the process alive). */
  busy?(): void;
  /** The pool is not waiting on this worker (Node: let the process exit). */
  idle?(): void;
  terminate(): Promise<unknown> | void;
}

export interface QuantizeJobMessage {
  id: number;
  type: number;
  values: Float32Array;
  /** The tensor's importance weights (lowbit quantize --imatrix), if any. */
  importance?: JobImportance;
}

export interface QuantizeReply {
  id: number;
  bytes?: Uint8Array;
  absMax?: number;
  error?: { name: string; message: string };
}

interface Pending {
  resolve(r: QuantizeResult): void;
  reject(e: Error): void;
}

/**
 * The worker side: runs one job message and returns the reply with the buffers to transfer.
 * A failure becomes an `error` reply (the pool rejects that job with a QuantizeError).
 */
export function answerQuantizeJob(msg: QuantizeJobMessage): { reply: QuantizeReply; transfer: ArrayBuffer[] } {
  try {
    const { bytes, absMax } = runQuantizeJob({ type: msg.type, values: msg.values, importance: msg.importance });
    return { reply: { id: msg.id, bytes, absMax }, transfer: [bytes.buffer as ArrayBuffer] };
  } catch (e) {
    const error = e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
    return { reply: { id: msg.id, error }, transfer: [] };
  }
}

export class QuantizeWorkerPool implements QuantizeRunner {
  private readonly workers: QuantizeWorkerPort[] = [];
  private readonly idle: QuantizeWorkerPort[] = [];
  private readonly queue: { job: QuantizeJob; pending: Pending }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  /**
   * `spawn` starts one worker and wires its replies to `onReply` and its crashes to `onError`;
   * it is called `count` times (at least once).
   */
  constructor(count: number, spawn: (onReply: (reply: QuantizeReply) => void, onError: (e: Error) => void) => QuantizeWorkerPort) {
    for (let i = 0; i < Math.max(1, count); i++) {
      const w: QuantizeWorkerPort = spawn(
        (m) => this.onReply(w, m),
        (e) => this.fail(e),
      );
      w.idle?.();
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  get parallelism(): number {
    return this.workers.length;
  }

  run(job: QuantizeJob): Promise<QuantizeResult> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, pending: { resolve, reject } });
      this.dispatch();
    });
  }

  /** Stops the workers; jobs still queued or running are rejected. */
  async close(): Promise<void> {
    this.fail(new QuantizeError('the quantizer pool was closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { job, pending } = this.queue.shift()!;
      const id = this.nextId++;
      this.pending.set(id, pending);
      w.busy?.();
      // Transferring detaches the whole buffer: a view into a larger one is copied out first.
      const whole = job.values.byteOffset === 0 && job.values.byteLength === job.values.buffer.byteLength;
      const values = whole ? job.values : job.values.slice();
      // The importance weights are shared by every job of a tensor: copied, not transferred.
      w.postMessage({ id, type: job.type, values, importance: job.importance }, [values.buffer as ArrayBuffer]);
    }
  }

  private onReply(w: QuantizeWorkerPort, m: QuantizeReply): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    w.idle?.();
    this.idle.push(w);
    if (p) {
      if (m.error) p.reject(new QuantizeError(`${m.error.name}: ${m.error.message}`));
      else p.resolve({ bytes: m.bytes!, absMax: m.absMax ?? 0 });
    }
    this.dispatch();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const q of this.queue.splice(0)) q.pending.reject(e);
  }
}
