/**
 * Random-access bytes. Every consumer of model files (GGUF reader, loader, inspector) reads through
 * this, so a model can come from memory, a File/Blob, IndexedDB chunks or HTTP Range requests
 * without ever being held whole in memory.
 */
export interface ByteSource {
  /** Human-readable name used in error messages (file name or URL). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Bytes [offset, offset+length). Must return exactly `length` bytes when the range lies inside
   * the source; a range past the end is a caller error (RangeError).
   */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * Bytes [offset, offset+target.length) written into `target`, which the caller owns and reuses;
   * resolves to the number of bytes written (all of them when the range lies inside the source).
   * Only sources that can fill a given buffer without a buffer of their own have it: the GGUF
   * header cursor reads through it so that a long header leaves no dead buffer per window.
   */
  readInto?(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<number>;
  /**
   * A reader for one stream of reads (the weight loader's pieces) that reuses its buffers, so the
   * stream leaves no dead buffer per read for the garbage collector: the loader streams through
   * one when the source has it, and JS memory stays at the reader's two buffers whatever the
   * model size. Each stream opens its own; a closed reader's buffers go to the source's next.
   */
  transientReader?(): TransientReader;
}

/** See ByteSource.transientReader. */
export interface TransientReader {
  /**
   * Bytes [offset, offset+length). They stay intact until this reader's second read after this
   * one starts, so a caller can use one piece while the next is read; it copies what it keeps.
   */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Ends the stream: once its reads have settled, its buffers may serve the source's next reader. */
  close(): void;
}

/**
 * The two buffers of a transient reader, handed out in turn, so a piece stays intact until the
 * next-but-one. A buffer grows to the next power of two at least `length` (at least 64 KiB), so a
 * stream of growing pieces replaces it a few times, not at every piece.
 */
export class AlternatingBuffers {
  private readonly buffers: (Uint8Array | undefined)[];
  /** The last read into each buffer: a buffer is given back only once it has settled. */
  private readonly reads: Promise<unknown>[] = [];
  private turn = 0;
  private released = false;

  /** `spare`: buffers a closed reader of the same source gave back. */
  constructor(spare: readonly Uint8Array[] = []) {
    this.buffers = [spare[0], spare[1]];
  }

  /** Runs `read` into the next buffer, cut to `length` bytes; returns what it resolves to. */
  fill<T>(length: number, read: (into: Uint8Array) => Promise<T>): Promise<T> {
    if (this.released) return Promise.reject(new Error('read from a closed transient reader'));
    const i = this.turn;
    this.turn = 1 - i;
    let buffer = this.buffers[i];
    if (!buffer || buffer.length < length) {
      buffer = new Uint8Array(Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(Math.max(1, length)))));
      this.buffers[i] = buffer;
    }
    const done = read(buffer.subarray(0, length));
    this.reads[i] = done.catch(() => {});
    return done;
  }

  /** Stops handing out buffers; resolves to them once every read into them has settled. */
  async release(): Promise<Uint8Array[]> {
    this.released = true;
    await Promise.all(this.reads);
    return this.buffers.filter((b): b is Uint8Array => b !== undefined);
  }
}

function checkRange(src: ByteSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new RangeError(`read [${offset}, +${length}) outside ${src.name} (${src.size} bytes)`);
  }
}

/** Bytes already in memory. `read` returns views, not copies. */
export class BufferByteSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly name = 'buffer',
  ) {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
  async readInto(offset: number, target: Uint8Array): Promise<number> {
    checkRange(this, offset, target.length);
    target.set(this.bytes.subarray(offset, offset + target.length));
    return target.length;
  }
}

/** A Blob or File (browser file picker, drag and drop). Reads slices lazily. */
export class BlobByteSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(
    private readonly blob: Blob,
    name?: string,
  ) {
    this.size = blob.size;
    this.name = name ?? ((blob as File).name || 'blob');
  }
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRange(this, offset, length);
    signal?.throwIfAborted();
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
}

export { checkRange as checkByteRange };
