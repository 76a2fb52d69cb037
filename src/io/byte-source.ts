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
   * Like `read`, but the bytes may live in a buffer the source reuses: they stay intact until the
   * second `readTransient` call after this one starts, so a streaming reader can use one piece
   * while the next is read, and must copy whatever it keeps longer. The weight loader streams
   * through this when a source has it, so a load does not leave a dead buffer per piece for the
   * garbage collector (JS memory stays at the source's two buffers whatever the model size).
   */
  readTransient?(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
}

/**
 * The two buffers behind a source's `readTransient`, handed out in turn, so a piece stays intact
 * until the next-but-one. A buffer grows to the next power of two at least `length` (at least
 * 64 KiB), so a stream of growing pieces replaces it a few times, not at every piece.
 */
export class AlternatingBuffers {
  private readonly buffers: [Uint8Array | undefined, Uint8Array | undefined] = [undefined, undefined];
  private turn: 0 | 1 = 0;

  take(length: number): Uint8Array {
    const i = this.turn;
    this.turn = i === 0 ? 1 : 0;
    let buffer = this.buffers[i];
    if (!buffer || buffer.length < length) {
      buffer = new Uint8Array(Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(Math.max(1, length)))));
      this.buffers[i] = buffer;
    }
    return buffer.subarray(0, length);
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
