/** Turning storage-full conditions into our QuotaExceededError. */
import { QuotaExceededError } from '../errors.ts';
import { formatBytes } from '../format.ts';
import type { ModelStore } from './store.ts';

/**
 * True for a DOMException 'QuotaExceededError' (IndexedDB, Cache API; legacy code 22), Node's
 * ENOSPC/EDQUOT, and our own QuotaExceededError. IndexedDB may also report it as the `error` of an
 * aborted transaction, which idb-keyval rejects with.
 */
export function isQuotaError(e: unknown): boolean {
  if (!e || typeof e !== 'object') return false;
  const err = e as { name?: string; code?: unknown };
  return err.name === 'QuotaExceededError' || err.code === 22 || err.code === 'ENOSPC' || err.code === 'EDQUOT';
}

export function quotaError(
  name: string,
  neededBytes: number,
  availableBytes: number | undefined,
  location: string,
  cause?: unknown,
): QuotaExceededError {
  const avail = availableBytes === undefined ? '' : ` (${formatBytes(availableBytes)} free)`;
  const err = new QuotaExceededError(
    `not enough storage for ${name}: ${formatBytes(neededBytes)} more needed in ${location}${avail}; ` +
      'free some space (delete cached models) and retry: the download resumes where it stopped',
    neededBytes,
    availableBytes,
  );
  if (cause !== undefined) Object.defineProperty(err, 'cause', { value: cause });
  return err;
}

/** Checks free space up front; throws QuotaExceededError naming the bytes needed. */
export async function ensureSpace(store: ModelStore, name: string, neededBytes: number): Promise<void> {
  if (neededBytes <= 0) return;
  const space = await store.space();
  if (space.availableBytes !== undefined && space.availableBytes < neededBytes) {
    throw quotaError(name, neededBytes, space.availableBytes, store.location);
  }
}
