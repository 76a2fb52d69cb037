/**
 * Imports a local file into the store the same way a download fills it: chunk by chunk, resumable,
 * then the integrity pass. The source is any ByteSource: a File/Blob in the browser
 * ({@link importBlob}), a path in Node (import-node.ts).
 */
import { IntegrityError } from '../errors.ts';
import { BlobByteSource, type ByteSource } from '../io/byte-source.ts';
import { crc32 } from './crc32.ts';
import { ProgressTracker, type ProgressCallback } from '../io/progress.ts';
import { ensureSpace, isQuotaError, quotaError } from './quota.ts';
import { normalizeSha256 } from './sha256.ts';
import {
  checkModelName,
  chunkLength,
  completeBytes,
  DEFAULT_CHUNK_SIZE,
  defaultModelName,
  isPresent,
  newManifest,
  type ModelManifest,
  type ModelStore,
} from './store.ts';
import { verifyAndMark } from './verify.ts';

export interface ImportOptions {
  store: ModelStore;
  source: ByteSource;
  /** Store name; default: the source's name. */
  name?: string;
  /** File name recorded as the origin (default: source.name). */
  fileName?: string;
  /** Identifies this version of the file (e.g. its mtime) so a changed file is not mixed with an old partial import. */
  lastModified?: string;
  sha256?: string;
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  chunkChecksums?: boolean;
  progressIntervalMs?: number;
}

export async function importModel(options: ImportOptions): Promise<ModelManifest> {
  const { store, source } = options;
  const name = checkModelName(options.name ?? defaultModelName(source.name));
  const fileName = options.fileName ?? source.name;
  const sha = options.sha256 === undefined ? undefined : normalizeSha256(options.sha256);
  if (options.sha256 !== undefined && !sha) throw new IntegrityError(`sha256 '${options.sha256}' is not 64 hexadecimal digits`);
  const release = await store.lock?.(name);
  try {
    return await importLocked(options, name, fileName, sha);
  } finally {
    await release?.();
  }
}

async function importLocked(options: ImportOptions, name: string, fileName: string, sha: string | undefined): Promise<ModelManifest> {
  const { store, source, signal } = options;
  for (let round = 0; ; round++) {
    let m = await store.getManifest(name);
    if (m && (m.origin.kind !== 'file' || m.origin.fileName !== fileName)) {
      const from = m.origin.kind === 'url' ? m.origin.url : `file ${m.origin.fileName}`;
      throw new IntegrityError(`a model named '${name}' is already stored (from ${from}); choose another name or delete it first`);
    }
    if (m && sha && m.sha256 !== sha) {
      m.sha256 = sha;
      m.verified = false;
    }
    if (m && isPresent(m)) return m;
    if (!m || m.size !== source.size || m.lastModified !== options.lastModified) {
      if (m) await store.clearChunks(m);
      m = newManifest(
        name,
        { kind: 'file', fileName },
        source.size,
        options.chunkSize ?? DEFAULT_CHUNK_SIZE,
        { lastModified: options.lastModified },
        sha,
        Date.now(),
      );
      await store.putManifest(m);
    }
    await ensureSpace(store, name, m.size - completeBytes(m));
    await store.persist?.();

    const tracker = new ProgressTracker('download', name, m.size, options.onProgress, options.progressIntervalMs);
    tracker.update(completeBytes(m), true);
    for (let i = 0; i < m.chunkDone.length; i++) {
      if (m.chunkDone[i]) continue;
      signal?.throwIfAborted();
      const bytes = await source.read(i * m.chunkSize, chunkLength(m, i), signal);
      try {
        await store.writeChunk(m, i, bytes);
      } catch (e) {
        if (!isQuotaError(e)) throw e;
        const space = await store.space().catch(() => ({ availableBytes: undefined }));
        throw quotaError(name, m.size - completeBytes(m), space.availableBytes, store.location, e);
      }
      m.chunkDone[i] = true;
      m.chunkCrc32[i] = (options.chunkChecksums ?? true) ? crc32(bytes) : null;
      await store.putManifest(m);
      tracker.update(completeBytes(m));
    }
    tracker.update(m.size, true);
    const bad = await verifyAndMark(store, m, { signal, onProgress: options.onProgress, progressIntervalMs: options.progressIntervalMs });
    if (bad.length === 0) return m;
    if (round >= 2) throw new IntegrityError(`${name}: chunks ${bad.join(', ')} still fail their checks after importing them again`);
  }
}

/** A File or Blob from a file picker or drag and drop (browser). */
export function importBlob(store: ModelStore, blob: Blob, options: Omit<ImportOptions, 'store' | 'source'> = {}): Promise<ModelManifest> {
  const file = blob as Partial<File>;
  return importModel({
    ...options,
    store,
    source: new BlobByteSource(blob, options.fileName ?? file.name),
    lastModified: options.lastModified ?? (file.lastModified !== undefined ? String(file.lastModified) : undefined),
  });
}
