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
