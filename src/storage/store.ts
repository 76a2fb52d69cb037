/**
 * The model store: where downloaded or imported model files live, as a manifest record plus
 * fixed-size chunks. Two back ends implement {@link ModelStore}: IndexedDB in the browser
 * (idb-store.ts) and the file system in Node (fs-store.ts); memory-store.ts serves tests.
 *
 * A model is *present* only when every chunk is complete and its integrity check passed
 * (`verified`). Partial models stay in the store so a download resumes from the last complete
 * chunk after a cut connection, a page reload or a restart.
 */
import type { TransientReader } from '../io/byte-source.ts';
import type { Sha256Hasher } from './sha256.ts';

export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

/** Where a stored model came from. */
export type ModelOrigin = { kind: 'url'; url: string } | { kind: 'file'; fileName: string };

export interface ModelManifest {
  /** Store key; equal to `name` (validated by {@link checkModelName}). */
  id: string;
  name: string;
  origin: ModelOrigin;
  /** Total bytes of the model file. */
  size: number;
  /**
   * True while a body of unknown length is being stored: `size` is then only what arrived so
   * far, and the model cannot be complete until the body's end has been seen and checked.
   */
  sizeUnknown?: boolean;
  /** Validators of the remote (or local) file the chunks came from; a change restarts the download. */
  etag?: string;
  lastModified?: string;
  chunkSize: number;
  /** chunkDone[i]: chunk i's bytes are written and their length checked. */
  chunkDone: boolean[];
  /** CRC-32 of each complete chunk, recorded when it was written (null: not recorded). */
  chunkCrc32: (number | null)[];
  /**
   * Chunks begun but not complete, by index: the first `bytes` of the chunk are stored, and
   * `crc32` is their CRC-32 (null: not recorded). A resumed download checks the stored prefix
   * against it, asks only for the rest, and continues the CRC over the whole chunk.
   */
  partialChunks?: Record<string, PartialChunk>;
  /** sha256 the caller expects (lower-case hex), checked over the whole file before `verified`. */
  sha256?: string;
  /** sha256 computed at the last verification, when one was computed. */
  actualSha256?: string;
  /** Every chunk complete and the integrity check passed: only then is the model usable. */
  verified: boolean;
  /** Epoch milliseconds. */
  created: number;
  lastUsed: number;
}

export interface PartialChunk {
  bytes: number;
  crc32: number | null;
}

/** Free space as far as the back end can tell; undefined fields are unknown. */
export interface StorageSpace {
  availableBytes?: number;
  quotaBytes?: number;
  usageBytes?: number;
}

/**
 * A back end. Chunk i of a model covers bytes [i*chunkSize, min((i+1)*chunkSize, size)).
 * Back ends store and return bytes; the chunk bookkeeping (manifest updates, checks) is done by
 * the downloader and the functions below, so every back end behaves the same.
 */
export interface ModelStore {
  /** 'indexeddb', 'fs' or 'memory'. */
  readonly kind: string;
  /** Human-readable location for messages (database name, directory). */
  readonly location: string;
  listManifests(): Promise<ModelManifest[]>;
  getManifest(id: string): Promise<ModelManifest | undefined>;
  putManifest(manifest: ModelManifest): Promise<void>;
  /**
   * Stores `bytes` at byte `offset` of chunk `index` (default 0: the chunk from its start). The
   * downloader writes a chunk in parts, in order, so that a cut loses at most the part in flight;
   * a write at `offset` makes any bytes stored after `offset` stale. May throw a quota error
   * (DOMException 'QuotaExceededError', ENOSPC).
   */
  writeChunk(manifest: ModelManifest, index: number, bytes: Uint8Array, offset?: number): Promise<void>;
  /**
   * The stored bytes of chunk `index` from its start, or undefined when none are stored. May be
   * short (a partial chunk, a lost write); bytes past a partial chunk's recorded prefix mean nothing.
   */
  readChunk(manifest: ModelManifest, index: number, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  /**
   * Reads chunk `index` from its start into `into` (at least the chunk's length) and returns how
   * many bytes were stored (0 when none; fewer than the chunk's length when short, as readChunk).
   * Back ends that can read into a caller's buffer (a file) have it, so a streaming load reuses
   * two chunk buffers instead of allocating one per chunk; IndexedDB cannot (every get makes a new
   * value), and ChunkedModelSource then uses readChunk.
   */
  readChunkInto?(manifest: ModelManifest, index: number, into: Uint8Array, signal?: AbortSignal): Promise<number>;
  /** Drops every stored chunk of a model (its file changed), keeping nothing partial. */
  clearChunks(manifest: ModelManifest): Promise<void>;
  /** Deletes the manifest and all chunks. Deleting an absent model is not an error. */
  deleteModel(id: string): Promise<void>;
  space(): Promise<StorageSpace>;
  /** Asks the browser to keep the data under storage pressure; true when granted. */
  persist?(): Promise<boolean>;
  /**
   * Claims a model for writing, so two downloads (processes, tabs, workers) never fill the same
   * model at once. Throws DownloadError when another holder is active; returns the release.
   */
  lock?(id: string): Promise<() => Promise<void>>;
  /**
   * Small text records kept beside the models (autotune's kernel choices, kernels/autotune.ts),
   * by key: undefined when none is stored. A record is only ever a cache: a reader validates it.
   */
  readRecord?(key: string): Promise<string | undefined>;
  /** Stores a record (at most MAX_RECORD_BYTES), replacing any under the same key. */
  writeRecord?(key: string, text: string): Promise<void>;
  /** A faster sha256 than the portable one, when the platform has it (node:crypto). */
  createHasher?(): Sha256Hasher;
  /**
   * A ByteSource-like fast path over a *complete* model's bytes (the fs store hands out a file
   * reader). Without it, reads go through {@link ChunkedModelSource}.
   */
  openRangeReader?(manifest: ModelManifest): Promise<RangeReader>;
}

export interface RangeReader {
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** See ByteSource.readInto. */
  readInto?(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<number>;
  /** See ByteSource.transientReader. */
  transientReader?(): TransientReader;
  close?(): Promise<void>;
}

/** Largest record a store keeps or hands back (bigger ones are refused / read as absent). */
export const MAX_RECORD_BYTES = 64 * 1024;

/** Checks a record before it is stored (RangeError). */
export function checkRecord(key: string, text: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 4096) throw new RangeError('record key must be 1–4096 characters');
  if (typeof text !== 'string' || text.length > MAX_RECORD_BYTES)
    throw new RangeError(`record of more than ${MAX_RECORD_BYTES} characters`);
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** Byte length of chunk `index` (the last one may be short). */
export function chunkLength(m: Pick<ModelManifest, 'size' | 'chunkSize'>, index: number): number {
  return Math.max(0, Math.min(m.chunkSize, m.size - index * m.chunkSize));
}

/** Bytes in complete chunks. */
export function completeBytes(m: ModelManifest): number {
  let n = 0;
  for (let i = 0; i < m.chunkDone.length; i++) if (m.chunkDone[i]) n += chunkLength(m, i);
  return n;
}

/** Bytes stored and recorded: complete chunks plus the stored prefixes of partial ones. */
export function storedBytes(m: ModelManifest): number {
  let n = completeBytes(m);
  for (const [key, p] of Object.entries(m.partialChunks ?? {})) if (!m.chunkDone[Number(key)]) n += p.bytes;
  return n;
}

export function isComplete(m: ModelManifest): boolean {
  return !m.sizeUnknown && m.chunkDone.length === chunkCount(m.size, m.chunkSize) && m.chunkDone.every(Boolean);
}

/** Usable: every chunk complete and verified. */
export function isPresent(m: ModelManifest | undefined): boolean {
  return !!m && m.verified && isComplete(m);
}

const NAME_RE = /^[A-Za-z0-9_+@][A-Za-z0-9._+@-]{0,199}$/;

/** Model names double as directory names and keys: letters, digits and `._+@-`, no leading dot. */
export function checkModelName(name: string): string {
  if (!NAME_RE.test(name) || name.includes('..')) {
    throw new RangeError(`invalid model name '${name}': use 1-200 letters, digits and ._+@- (not starting with '.' or '-')`);
  }
  return name;
}

/** A valid default name from a URL or file name: its last path segment, odd characters replaced. */
export function defaultModelName(urlOrFile: string): string {
  let base = urlOrFile;
  try {
    base = decodeURIComponent(new URL(urlOrFile).pathname);
  } catch {
    /* not a URL: a file name or path */
  }
  base = base.split(/[\\/]/).filter(Boolean).pop() ?? 'model';
  // A name may not start with '.' (hidden entries, '..') or '-' (it would read as a CLI option).
  base = base
    .replace(/[^A-Za-z0-9._+@-]/g, '_')
    .replace(/\.\.+/g, '.')
    .replace(/^[.-]+/, '');
  return base.slice(0, 200) || 'model';
}

export function newManifest(
  name: string,
  origin: ModelOrigin,
  size: number,
  chunkSize: number,
  validators: { etag?: string; lastModified?: string },
  sha256: string | undefined,
  now: number,
): ModelManifest {
  checkModelName(name);
  const n = chunkCount(size, chunkSize);
  return {
    id: name,
    name,
    origin,
    size,
    etag: validators.etag,
    lastModified: validators.lastModified,
    chunkSize,
    chunkDone: new Array<boolean>(n).fill(false),
    chunkCrc32: new Array<number | null>(n).fill(null),
    sha256,
    verified: false,
    created: now,
    lastUsed: now,
  };
}

/**
 * A stored manifest record as a ModelManifest, or undefined when it is not one: a damaged or
 * hand-edited file, or one from another version of lowbit, counts as no model (pulling again
 * rebuilds it) instead of crashing whatever lists, loads or resumes it.
 */
export function parseManifest(value: unknown, id: string): ModelManifest | undefined {
  if (!isRecord(value)) return undefined;
  const m = value as Partial<Record<keyof ModelManifest, unknown>>;
  const origin = m.origin;
  const originOk =
    isRecord(origin) &&
    ((origin.kind === 'url' && typeof origin.url === 'string') || (origin.kind === 'file' && typeof origin.fileName === 'string'));
  const ok =
    m.id === id &&
    m.name === id &&
    originOk &&
    Number.isSafeInteger(m.size) &&
    (m.size as number) >= 0 &&
    Number.isSafeInteger(m.chunkSize) &&
    (m.chunkSize as number) > 0 &&
    Array.isArray(m.chunkDone) &&
    m.chunkDone.every((d) => typeof d === 'boolean') &&
    Array.isArray(m.chunkCrc32) &&
    m.chunkCrc32.length === m.chunkDone.length &&
    m.chunkCrc32.every((c) => c === null || Number.isInteger(c)) &&
    typeof m.verified === 'boolean' &&
    Number.isFinite(m.created) &&
    Number.isFinite(m.lastUsed) &&
    [m.etag, m.lastModified, m.sha256, m.actualSha256].every((v) => v === undefined || typeof v === 'string') &&
    (m.sizeUnknown === undefined || typeof m.sizeUnknown === 'boolean') &&
    (m.partialChunks === undefined || (isRecord(m.partialChunks) && Object.values(m.partialChunks).every(isPartialChunk)));
  return ok ? (value as unknown as ModelManifest) : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPartialChunk(p: unknown): boolean {
  return isRecord(p) && Number.isSafeInteger(p.bytes) && (p.crc32 === null || Number.isInteger(p.crc32));
}

/** Summary row for listings (`lowbit ls`, the demo's model manager). */
export interface StoredModelInfo {
  id: string;
  name: string;
  origin: ModelOrigin;
  size: number;
  storedBytes: number;
  /** A body of unknown length was being stored: `size` is only what arrived. */
  sizeUnknown: boolean;
  complete: boolean;
  verified: boolean;
  present: boolean;
  sha256?: string;
  created: number;
  lastUsed: number;
}

export async function listModels(store: ModelStore): Promise<StoredModelInfo[]> {
  const manifests = await store.listManifests();
  return manifests
    .map((m) => ({
      id: m.id,
      name: m.name,
      origin: m.origin,
      size: m.size,
      storedBytes: storedBytes(m),
      sizeUnknown: !!m.sizeUnknown,
      complete: isComplete(m),
      verified: m.verified,
      present: isPresent(m),
      sha256: m.actualSha256 ?? m.sha256,
      created: m.created,
      lastUsed: m.lastUsed,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function deleteAllModels(store: ModelStore): Promise<number> {
  const manifests = await store.listManifests();
  for (const m of manifests) await store.deleteModel(m.id);
  return manifests.length;
}
