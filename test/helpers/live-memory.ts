/**
 * Memory figures for the probes that tests spawn with `node --expose-gc` (the GGUF header's and the
 * tokenizer load's), the loader's memory tests and the bench's load-heap column: JS heap plus
 * ArrayBuffer bytes, and a settle that collects twice around a turn of the event loop, so
 * "retained" means live, not garbage not yet collected.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** JS heap plus ArrayBuffer bytes, what the load's memory goal counts. */
export function liveBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

let gc: (() => void) | undefined;

/** A full collection now (the probes sample live bytes between reads). */
export function collectGarbage(): void {
  // Without --expose-gc (vitest workers, `npm run bench`), the flag is set now and gc taken from a
  // fresh context, which sees it.
  gc ??= (globalThis as { gc?: () => void }).gc ?? (setFlagsFromString('--expose-gc'), runInNewContext('gc') as () => void);
  gc();
}

export async function settleGc(): Promise<void> {
  collectGarbage();
  await new Promise((r) => setTimeout(r, 50));
  collectGarbage();
}
