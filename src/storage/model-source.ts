/**
 * ByteSource over a stored model, so the GGUF reader and the loader read straight from the store.
 * Reads may span chunk boundaries. At most `cacheChunks` chunks (default 2) are held, which bounds
 * memory while keeping the many small header reads of the GGUF parser cheap.
 */
import { IntegrityError, ModelFormatError } from '../errors.ts';
import { checkByteRange, type ByteSource } from '../io/byte-source.ts';
import { crc32 } from './crc32.ts';
import { chunkLength, completeBytes, isComplete, type ModelManifest, type ModelStore, type RangeReader } from './store.ts';

export interface StoredSourceOptions {
  /** Check each chunk's recorded CRC-32 when it is read (default true). */
  checkChunks?: boolean;
  /** Chunks kept in memory (default 2). */
  cacheChunks?: number;
}

export class ChunkedModelSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  /** Reads inside one chunk are views into the cached chunk (no copy): the loader aligns to this. */
  readonly chunkSize: number;
  /** Most recently used last. */
  private readonly cache: { index: number; bytes: Promise<Uint8Array> }[] = [];

  constructor(
    private readonly store: ModelStore,
    private readonly manifest: ModelManifest,
    private readonly options: StoredSourceOptions = {},
  ) {
    this.name = manifest.name;
    this.size = manifest.size;
    this.chunkSize = manifest.chunkSize;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkByteRange(this, offset, length);
    signal?.throwIfAborted();
    const cs = this.manifest.chunkSize;
    const first = Math.floor(offset / cs);
    const last = length === 0 ? first : Math.floor((offset + length - 1) / cs);
    if (first === last) {
      const chunk = await this.chunk(first, signal);
      const start = offset - first * cs;
      return chunk.subarray(start, start + length);
    }
    const out = new Uint8Array(length);
    for (let i = first; i <= last; i++) {
      const chunk = await this.chunk(i, signal);
      const chunkStart = i * cs;
      const from = Math.max(offset, chunkStart) - chunkStart;
      const to = Math.min(offset + length, chunkStart + chunk.length) - chunkStart;
      out.set(chunk.subarray(from, to), chunkStart + from - offset);
    }
    return out;
  }

  private chunk(index: number, signal?: AbortSignal): Promise<Uint8Array> {
    const hit = this.cache.findIndex((c) => c.index === index);
    if (hit >= 0) {
      const [entry] = this.cache.splice(hit, 1);
      this.cache.push(entry!);
      return entry!.bytes;
    }
    const bytes = this.loadChunk(index, signal);
    this.cache.push({ index, bytes });
    // A failed load must not stay cached.
    bytes.catch(() => {
      const at = this.cache.findIndex((c) => c.bytes === bytes);
      if (at >= 0) this.cache.splice(at, 1);
    });
    while (this.cache.length > (this.options.cacheChunks ?? 2)) this.cache.shift();
    return bytes;
  }

  private async loadChunk(index: number, signal?: AbortSignal): Promise<Uint8Array> {
    const m = this.manifest;
    const expected = chunkLength(m, index);
    const bytes = await this.store.readChunk(m, index, signal);
    if (!bytes || bytes.length !== expected) {
      await this.markBad(index);
      throw new IntegrityError(
        `${m.name}: stored chunk ${index} has ${bytes?.length ?? 0} bytes, expected ${expected}; pull the model again to repair it`,
      );
    }
    const recorded = m.chunkCrc32[index];
    if ((this.options.checkChunks ?? true) && recorded != null && crc32(bytes) !== recorded) {
      await this.markBad(index);
      throw new IntegrityError(`${m.name}: stored chunk ${index} is corrupt (CRC-32 mismatch); pull the model again to repair it`);
    }
    return bytes;
  }

  /** Records a bad chunk in the stored manifest, so the next download fetches just that chunk. */
  private async markBad(index: number): Promise<void> {
    const stored = await this.store.getManifest(this.manifest.id).catch(() => undefined);
    if (!stored || stored.chunkSize !== this.manifest.chunkSize || stored.size !== this.manifest.size) return;
    stored.chunkDone[index] = false;
    stored.chunkCrc32[index] = null;
    stored.verified = false;
    await this.store.putManifest(stored).catch(() => {});
  }
}

/** Adapts a back end's fast range reader (a file) to ByteSource. */
class RangeReaderSource implements ByteSource {
  constructor(
    private readonly reader: RangeReader,
    readonly name: string,
    readonly size: number,
  ) {}
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkByteRange(this, offset, length);
    return this.reader.read(offset, length, signal);
  }
  close(): Promise<void> {
    return this.reader.close?.() ?? Promise.resolve();
  }
}

export type StoredModelSource = ByteSource & { close?(): Promise<void> };

/**
 * Opens a present model for reading and records it as used. Throws ModelFormatError naming the
 * model when it is absent, incomplete or unverified.
 */
export async function openStoredModel(store: ModelStore, id: string, options: StoredSourceOptions = {}): Promise<StoredModelSource> {
  const m = await store.getManifest(id);
  if (!m) throw new ModelFormatError(`no model named '${id}' in the ${store.kind} store at ${store.location}`);
  if (!(m.verified && isComplete(m))) {
    const why = isComplete(m) ? 'its integrity check has not passed' : `only ${completeBytes(m)} of ${m.size} bytes are downloaded`;
    throw new ModelFormatError(`model '${id}' is not ready: ${why}; pull it again to finish`);
  }
  m.lastUsed = Date.now();
  await store.putManifest(m);
  if (store.openRangeReader) return new RangeReaderSource(await store.openRangeReader(m), m.name, m.size);
  return new ChunkedModelSource(store, m, options);
}
