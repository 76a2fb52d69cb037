/**
 * Memory figures for the probes that tests spawn with `node --expose-gc` (the GGUF header's and the
 * tokenizer load's): JS heap plus ArrayBuffer bytes, and a settle that collects twice around a
 * turn of the event loop, so "retained" means live, not garbage not yet collected.
 */
/** JS heap plus ArrayBuffer bytes, what the load's memory goal counts. */
export function liveBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A full collection now (the probes sample live bytes between reads). */
export function collectGarbage(): void {
  // Looked up at each call: a test may expose gc after this module is imported.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
}

export async function settleGc(): Promise<void> {
  collectGarbage();
  await new Promise((r) => setTimeout(r, 50));
  collectGarbage();
}
