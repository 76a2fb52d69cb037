/** Node only: the quantizer pool (quantize-pool.ts) over worker threads. */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { QuantizeWorkerPool } from './quantize-pool.ts';

export class NodeQuantizePool extends QuantizeWorkerPool {
  /** `threads` defaults to the machine's available parallelism. */
  constructor(threads = availableParallelism()) {
    super(threads, (onReply, onError) => {
      const w = new Worker(new URL('./quantize-worker.js', import.meta.url));
      w.on('message', onReply);
      w.on('error', onError);
      return {
        postMessage: (m, transfer) => w.postMessage(m, transfer),
        busy: () => w.ref(),
        idle: () => w.unref(),
        terminate: () => w.terminate(),
      };
    });
  }
}
