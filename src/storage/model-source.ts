/**
 * ByteSource over a stored model, so the GGUF reader and the loader read straight from the store.
 * Reads may span chunk boundaries. At most `cacheChunks` chunks (default 2) are held, which bounds
 * memory while keeping the many small header reads of the GGUF parser cheap. The weight loader
 * streams through a transient reader instead: two chunks, reused from reader to reader.
 */
import { IntegrityError, ModelFormatError } from '../errors.ts';
import { checkByteRange, type ByteSource, type TransientReader } from '../io/byte-source.ts';
import { crc32 } from './crc32.ts';
import { chunkLength, completeBytes, isComplete, type ModelManifest, type ModelStore, type RangeReader } from './store.ts';

export interface StoredSourceOptions {
  /** Check each chunk's recorded CRC-32 when it is read (default true). */
  checkChunks?: boolean;
  /** Chunks kept in memory (default 2). */
  cacheChunks?: number;
}

/** A chunk held by a transient reader; `buffer` is its own memory when the store reads into one. */
interface StreamedChunk {
  index: number;
  bytes: Promise<Uint8Array>;
  buffer?: Uint8Array;
}

export class ChunkedModelSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  /** Reads inside one chunk are views into the cached chunk (no copy): the loader aligns to this. */
  readonly chunkSize: number;
  /** Most recently used last. */
  private readonly cache: { index: number; bytes: Promise<Uint8Array> }[] = [];
  /** Chunk buffers of closed transient readers, for the next one (stores with readChunkInto). */
  private spareChunks: Uint8Array[] = [];

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
    await this.copyChunks(offset, out, signal);
    return out;
  }

  /** Copies from the cached chunks, as `read` does across chunks, into the caller's buffer. */
  async readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<number> {
    checkByteRange(this, offset, target.length);
    signal?.throwIfAborted();
    await this.copyChunks(offset, target, signal);
    return target.length;
  }

  /** Fills `out` with the bytes from `offset` (a checked range), chunk by chunk through the cache. */
  private async copyChunks(offset: number, out: Uint8Array, signal?: AbortSignal): Promise<void> {
    const cs = this.manifest.chunkSize;
    const length = out.length;
    if (length === 0) return;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + length - 1) / cs);
    for (let i = first; i <= last; i++) {
      const chunk = await this.chunk(i, signal);
      const chunkStart = i * cs;
      const from = Math.max(offset, chunkStart) - chunkStart;
      const to = Math.min(offset + length, chunkStart + chunk.length) - chunkStart;
      out.set(chunk.subarray(from, to), chunkStart + from - offset);
    }
  }

  /**
   * Reads as views into two chunks the reader holds (see ByteSource.transientReader), most
   * recently used last; a new chunk replaces the older. Over a store with readChunkInto the two
   * keep their buffers (a closed reader's pass to the next), so a whole load allocates two chunks;
   * over IndexedDB each chunk is the store's new value. Opening one drops read()'s cache: the
   * stream will not need it.
   */
  transientReader(): TransientReader {
    this.cache.length = 0;
    const held: StreamedChunk[] = [];
    let closed = false;
    return {
      read: async (offset, length, signal) => {
        checkByteRange(this, offset, length);
        signal?.throwIfAborted();
        if (closed) throw new Error('read from a closed transient reader');
        const cs = this.manifest.chunkSize;
        const index = Math.floor(offset / cs);
        // A range across chunks is a copy either way (the loader's pieces stop at chunk boundaries).
        if (length > 0 && Math.floor((offset + length - 1) / cs) !== index) return this.read(offset, length, signal);
        const chunk = await this.heldChunk(held, index, signal);
        const start = offset - index * cs;
        return chunk.subarray(start, start + length);
      },
      close: () => {
        closed = true;
        for (const entry of held.splice(0)) {
          const buffer = entry.buffer;
          if (buffer) void entry.bytes.catch(() => {}).then(() => this.spareChunks.length < 2 && this.spareChunks.push(buffer));
        }
      },
    };
  }

  private heldChunk(held: StreamedChunk[], index: number, signal?: AbortSignal): Promise<Uint8Array> {
    const hit = held.findIndex((c) => c.index === index);
    if (hit >= 0) {
      const [entry] = held.splice(hit, 1);
      held.push(entry!);
      return entry!.bytes;
    }
    // The least recently used chunk goes, and its buffer takes the new one.
    const evicted = held.length >= 2 ? held.shift() : undefined;
    const entry = { index, buffer: evicted?.buffer } as StreamedChunk;
    entry.bytes = this.fillHeld(entry, evicted, signal);
    held.push(entry);
    // A failed load must not stay held.
    entry.bytes.catch(() => {
      const at = held.indexOf(entry);
      if (at >= 0) held.splice(at, 1);
    });
    return entry.bytes;
  }

  private async fillHeld(entry: StreamedChunk, evicted: StreamedChunk | undefined, signal?: AbortSignal): Promise<Uint8Array> {
    // The evicted chunk's buffer is refilled only once its own read has settled.
    await evicted?.bytes.catch(() => {});
    if (!this.store.readChunkInto) return this.loadChunk(entry.index, signal);
    const length = chunkLength(this.manifest, entry.index);
    if (!entry.buffer || entry.buffer.length < length) entry.buffer = this.spareChunks.pop() ?? new Uint8Array(this.manifest.chunkSize);
    return this.loadChunk(entry.index, signal, entry.buffer.subarray(0, length));
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

  /** Reads and checks chunk `index`: into `into` (its exact length) when given, else a new array from the store. */
  private async loadChunk(index: number, signal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array> {
    const m = this.manifest;
    const expected = chunkLength(m, index);
    const bytes =
      into && this.store.readChunkInto
        ? into.subarray(0, await this.store.readChunkInto(m, index, into, signal))
        : await this.store.readChunk(m, index, signal);
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
  /** Present when the back end's reader has it (a file does). */
  readonly readInto?: (offset: number, target: Uint8Array, signal?: AbortSignal) => Promise<number>;

  constructor(
    private readonly reader: RangeReader,
    readonly name: string,
    readonly size: number,
  ) {
    const readInto = reader.readInto?.bind(reader);
    if (readInto) {
      this.readInto = async (offset, target, signal) => {
        checkByteRange(this, offset, target.length);
        return readInto(offset, target, signal);
      };
    }
  }
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkByteRange(this, offset, length);
    return this.reader.read(offset, length, signal);
  }
  transientReader(): TransientReader {
    const reader = this.reader.transientReader?.();
    const read = (offset: number, length: number, signal?: AbortSignal) => this.read(offset, length, signal);
    if (!reader) return { read, close: () => {} };
    return {
      read: async (offset, length, signal) => {
        checkByteRange(this, offset, length);
        return reader.read(offset, length, signal);
      },
      close: () => reader.close(),
    };
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
