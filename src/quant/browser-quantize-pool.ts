/**
 * Browser: the quantizer pool (quantize-pool.ts) over Web Workers, one per logical core
 * (navigator.hardwareConcurrency) by default.
 */
import { QuantizeWorkerPool } from './quantize-pool.ts';

/** Cores to use when the browser does not say (or says something odd). */
const FALLBACK_WORKERS = 2;
/** More workers than this gains nothing on a phone or laptop and costs memory per worker. */
const MAX_WORKERS = 16;

export function defaultBrowserWorkers(hardwareConcurrency = globalThis.navigator?.hardwareConcurrency): number {
  const n = Number.isInteger(hardwareConcurrency) && hardwareConcurrency! > 0 ? hardwareConcurrency! : FALLBACK_WORKERS;
  return Math.min(MAX_WORKERS, n);
}

export class BrowserQuantizePool extends QuantizeWorkerPool {
  constructor(workers = defaultBrowserWorkers()) {
    super(workers, (onReply, onError) => {
      const w = new Worker(new URL('./browser-quantize-worker.ts', import.meta.url), { type: 'module', name: 'lowbit-quantize' });
      w.onmessage = (e: MessageEvent) => onReply(e.data);
      w.onerror = (e: ErrorEvent) => onError(new Error(`quantizer worker failed: ${e.message || 'could not start'}`));
      return { postMessage: (m, transfer) => w.postMessage(m, transfer), terminate: () => w.terminate() };
    });
  }
}
