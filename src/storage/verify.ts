/**
 * The integrity pass that makes a stored model *present*: re-reads every chunk from the store
 * (what the loader will actually use), checks its length and recorded CRC-32, and hashes the
 * file with sha256 in order when an expected digest was given. Streams chunk by chunk, so memory
 * stays at one chunk whatever the model size.
 */
import { IntegrityError } from '../errors.ts';
import { crc32 } from './crc32.ts';
import { ProgressTracker, type ProgressCallback } from '../io/progress.ts';
import { createSha256 } from './sha256.ts';
import { chunkCount, chunkLength, type ModelManifest, type ModelStore } from './store.ts';

export interface VerifyOptions {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Hash even without an expected digest (the result is recorded as actualSha256). */
  alwaysHash?: boolean;
  progressIntervalMs?: number;
}

export interface VerifyResult {
  /** Chunks whose stored bytes are missing, short or fail their CRC-32. */
  badChunks: number[];
  /** sha256 of the whole file, when hashed and no chunk was bad. */
  sha256?: string;
}

export async function verifyStoredChunks(store: ModelStore, m: ModelManifest, options: VerifyOptions = {}): Promise<VerifyResult> {
  const hasher = options.alwaysHash || m.sha256 ? (store.createHasher?.() ?? createSha256()) : undefined;
  const tracker = new ProgressTracker('verify', m.name, m.size, options.onProgress, options.progressIntervalMs);
  const badChunks: number[] = [];
  let done = 0;
  tracker.update(0, true);
  const n = chunkCount(m.size, m.chunkSize);
  for (let i = 0; i < n; i++) {
    options.signal?.throwIfAborted();
    const want = chunkLength(m, i);
    const bytes = m.chunkDone[i] ? await store.readChunk(m, i, options.signal) : undefined;
    const recorded = m.chunkCrc32[i];
    if (!bytes || bytes.length !== want || (recorded != null && crc32(bytes) !== recorded)) {
      badChunks.push(i);
    } else if (badChunks.length === 0) {
      hasher?.update(bytes);
    }
    done += want;
    tracker.update(done);
  }
  tracker.update(done, true);
  return { badChunks, sha256: badChunks.length === 0 ? hasher?.hexDigest() : undefined };
}

/**
 * Runs the integrity pass and records its outcome in the manifest. Bad chunks are marked not done
 * (returned, so the caller fetches them again). A sha256 mismatch leaves the model unverified and
 * throws IntegrityError; the chunks stay, so a corrected expected digest needs no new download.
 */
export async function verifyAndMark(store: ModelStore, m: ModelManifest, options: VerifyOptions = {}): Promise<number[]> {
  const { badChunks, sha256 } = await verifyStoredChunks(store, m, options);
  if (badChunks.length > 0) {
    for (const i of badChunks) {
      m.chunkDone[i] = false;
      m.chunkCrc32[i] = null;
    }
    m.verified = false;
    await store.putManifest(m);
    return badChunks;
  }
  if (sha256) m.actualSha256 = sha256;
  if (m.sha256 && sha256 !== m.sha256) {
    m.verified = false;
    await store.putManifest(m);
    throw new IntegrityError(
      `${m.name}: sha256 mismatch: expected ${m.sha256}, got ${sha256}. The model stays unverified; ` +
        'check the expected hash, or delete the model and download it again',
    );
  }
  m.verified = true;
  await store.putManifest(m);
  return [];
}
