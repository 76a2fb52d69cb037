/**
 * Starts the engine's Web Worker (bundled by Vite from src/engine/worker.ts) and returns the
 * page-side client. When this script was loaded from another origin (the element embedded in a
 * third-party page), browsers refuse `new Worker(crossOriginUrl)`, so a same-origin blob module
 * that imports the worker script is started instead (the script's server must allow CORS).
 */
import workerUrl from '../engine/worker.ts?worker&url';
import { EngineWorker } from '../engine/worker-client.ts';

export function spawnEngineWorker(): EngineWorker {
  const url = new URL(workerUrl, import.meta.url);
  let worker: Worker;
  if (url.origin === globalThis.location?.origin) {
    worker = new Worker(url, { type: 'module', name: 'lowbit-engine' });
  } else {
    const shim = new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' });
    worker = new Worker(URL.createObjectURL(shim), { type: 'module', name: 'lowbit-engine' });
  }
  return new EngineWorker(worker);
}
