/**
 * Node only: a pool of worker threads running quantize jobs, one job per thread at a time. The
 * values' buffer is transferred to the worker and the bytes transferred back, so nothing is copied.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { QuantizeError } from '../errors.ts';
import type { QuantizeJob, QuantizeResult } from './quantize-job.ts';
import type { QuantizeRunner } from './quantize-stream.ts';

interface Pending {
  resolve(r: QuantizeResult): void;
  reject(e: Error): void;
}

interface Reply {
  id: number;
  bytes?: Uint8Array;
  absMax?: number;
  error?: { name: string; message: string };
}

export class NodeQuantizePool implements QuantizeRunner {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { job: QuantizeJob; pending: Pending }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  /** `threads` defaults to the machine's available parallelism. */
  constructor(threads = availableParallelism()) {
    for (let i = 0; i < Math.max(1, threads); i++) {
      const w = new Worker(new URL('./quantize-worker.js', import.meta.url));
      w.on('message', (m: Reply) => this.onReply(w, m));
      w.on('error', (e) => this.fail(e));
      w.unref();
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

  /** Stops the threads; jobs still queued or running are rejected. */
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
      w.ref();
      // Transferring detaches the whole buffer: a view into a larger one is copied out first.
      const whole = job.values.byteOffset === 0 && job.values.byteLength === job.values.buffer.byteLength;
      const values = whole ? job.values : job.values.slice();
      // The importance weights are shared by every job of a tensor: copied, not transferred.
      w.postMessage({ id, type: job.type, values, importance: job.importance }, [values.buffer as ArrayBuffer]);
    }
  }

  private onReply(w: Worker, m: Reply): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    w.unref();
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
