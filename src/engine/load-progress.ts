/** The one translation from the byte-level progress reports of storage and the loader to the API's LoadProgress. */
import type { ProgressReport } from '../io/progress.ts';
import type { LoadProgress } from './types.ts';

export function toLoadProgress(r: ProgressReport): LoadProgress {
  return {
    phase: r.phase,
    bytesDone: r.bytesDone,
    bytesTotal: r.bytesTotal,
    // A rate of 0 means "not measured yet": leave it out rather than show 0 B/s.
    ...(r.bytesPerSecond > 0 ? { rate: r.bytesPerSecond } : {}),
    ...(r.etaSeconds !== undefined ? { etaSeconds: r.etaSeconds } : {}),
    ...(r.retry ? { retry: { ...r.retry } } : {}),
  };
}
