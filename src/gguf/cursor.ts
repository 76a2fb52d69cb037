import { GGUFFormatError } from '../errors.ts';
import type { ByteSource } from '../io/byte-source.ts';

export interface CursorOptions {
  /** First read size; later reads double up to {@link maxChunkBytes}. */
  initialChunkBytes?: number;
  /** Largest read (default 256 KiB), and so the window's size unless one field needs more. */
  maxChunkBytes?: number;
  /** The cursor refuses to read past this file offset (bounds header size on hostile input). */
  limitBytes?: number;
  signal?: AbortSignal;
}

/**
 * Forward-only buffered reader over a ByteSource. Holds one window of bytes in a buffer it owns:
 * `fill` moves the unparsed tail of the window to the buffer's front and reads only the bytes
 * behind it (into the buffer itself when the source has `readInto`), so only the bytes actually
 * parsed are requested from the source, and a long header (a 150k-token vocabulary) leaves no
 * dead buffer per window for the garbage collector: the buffer grows with the read size up to
 * {@link CursorOptions.maxChunkBytes}, and past it only for a single field larger than that.
 *
 * Hot paths call the synchronous `has(n)` first and only `await fill(n)` when the window runs out.
 */
export class ByteCursor {
  pos = 0;
  /** Total bytes requested from the source (for tests and diagnostics). */
  bytesRequested = 0;
  /** The window is buf[0, bufLength): file bytes [bufStart, bufStart + bufLength). */
  private buf = new Uint8Array(0);
  private bufLength = 0;
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  private nextChunk: number;
  private readonly maxChunk: number;
  private readonly limit: number;
  private readonly signal?: AbortSignal;

  constructor(
    readonly source: ByteSource,
    options: CursorOptions = {},
  ) {
    this.nextChunk = options.initialChunkBytes ?? 64 * 1024;
    this.maxChunk = options.maxChunkBytes ?? 256 * 1024;
    this.limit = Math.min(source.size, options.limitBytes ?? Infinity);
    this.signal = options.signal;
  }

  /** Bytes between the current position and the end of the source. */
  get remaining(): number {
    return this.source.size - this.pos;
  }

  /** The file offset the cursor will not read past (`limitBytes`, or the source size). */
  get limitOffset(): number {
    return this.limit;
  }

  /** True when [pos, pos+n) is already buffered. */
  has(n: number): boolean {
    return this.pos + n <= this.bufStart + this.bufLength;
  }

  /**
   * Make [pos, pos+n) available. `field` and the position name the offending field when the
   * source ends first (truncation) or the read would pass the header size limit.
   */
  async fill(n: number, field: string): Promise<void> {
    if (this.has(n)) return;
    this.checkReadable(n, field);
    let end = Math.min(this.limit, Math.max(this.pos + n, this.pos + this.nextChunk));
    this.nextChunk = Math.min(this.maxChunk, this.nextChunk * 2);
    const keepFrom = Math.min(this.pos - this.bufStart, this.bufLength);
    const keptLength = this.bufLength - keepFrom;
    // Full-size already: a read that would outgrow the buffer is shortened by the kept tail instead.
    if (end - this.pos > this.buf.length && n <= this.buf.length && this.buf.length >= this.maxChunk) end = this.pos + this.buf.length;
    if (end - this.pos > this.buf.length) {
      const grown = new Uint8Array(end - this.pos);
      grown.set(this.buf.subarray(keepFrom, this.bufLength));
      this.buf = grown;
      this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
    } else if (keepFrom > 0) {
      this.buf.copyWithin(0, keepFrom, this.bufLength);
    }
    // The window now holds just the kept tail, so a failed read leaves the cursor consistent.
    this.bufStart = this.pos;
    this.bufLength = keptLength;
    await this.readExactly(this.pos + keptLength, this.buf.subarray(keptLength, end - this.pos), field);
    this.bufLength = end - this.pos;
  }

  /** Throws, naming `field`, unless [pos, pos+n) lies within the source and the header limit. */
  private checkReadable(n: number, field: string): void {
    if (n > this.source.size - this.pos) {
      throw new GGUFFormatError(
        `${this.source.name}: truncated: ${field} at byte ${this.pos} needs ${n} bytes but the file ends at byte ${this.source.size}`,
        this.pos,
        field,
      );
    }
    if (this.pos + n > this.limit) {
      throw new GGUFFormatError(
        `${this.source.name}: ${field} at byte ${this.pos} lies beyond the ${this.limit}-byte header limit`,
        this.pos,
        field,
      );
    }
  }

  /**
   * The next n bytes in an array of their own (its whole buffer), and skips them. A field larger
   * than the window's read size (a 150k-entry token-type array) is read straight into that array,
   * from the window's unparsed tail on, rather than grown into the window and copied out of it,
   * which would leave the outgrown window behind as garbage.
   */
  async takeOwned(n: number, field: string): Promise<Uint8Array> {
    if (this.has(n) || n <= this.maxChunk) {
      await this.fill(n, field);
      return this.take(n).slice();
    }
    this.checkReadable(n, field);
    const out = new Uint8Array(n);
    const kept = Math.max(0, this.bufStart + this.bufLength - this.pos);
    out.set(this.buf.subarray(this.at(), this.at() + kept));
    await this.readExactly(this.pos + kept, out.subarray(kept), field);
    this.pos += n;
    // The window is used up: the next fill starts empty at the new position.
    this.bufStart = this.pos;
    this.bufLength = 0;
    return out;
  }

  /**
   * Fills `target` from file offset `offset` (in place when the source can, else through a read and
   * a copy) and counts it in bytesRequested; a short read is a GGUFFormatError naming `field`.
   */
  private async readExactly(offset: number, target: Uint8Array, field: string): Promise<void> {
    this.signal?.throwIfAborted();
    let got: number;
    if (this.source.readInto) got = await this.source.readInto(offset, target, this.signal);
    else {
      const fresh = await this.source.read(offset, target.length, this.signal);
      if (fresh.length === target.length) target.set(fresh);
      got = fresh.length;
    }
    if (got !== target.length) {
      throw new GGUFFormatError(
        `${this.source.name}: short read at byte ${offset} (${got} of ${target.length} bytes) while reading ${field}`,
        offset,
        field,
      );
    }
    this.bytesRequested += got;
  }

  private at(): number {
    return this.pos - this.bufStart;
  }

  u8(): number {
    const v = this.buf[this.at()]!;
    this.pos += 1;
    return v;
  }
  i8(): number {
    const v = this.view.getInt8(this.at());
    this.pos += 1;
    return v;
  }
  u16(): number {
    const v = this.view.getUint16(this.at(), true);
    this.pos += 2;
    return v;
  }
  i16(): number {
    const v = this.view.getInt16(this.at(), true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    const v = this.view.getUint32(this.at(), true);
    this.pos += 4;
    return v;
  }
  i32(): number {
    const v = this.view.getInt32(this.at(), true);
    this.pos += 4;
    return v;
  }
  f32(): number {
    const v = this.view.getFloat32(this.at(), true);
    this.pos += 4;
    return v;
  }
  f64(): number {
    const v = this.view.getFloat64(this.at(), true);
    this.pos += 8;
    return v;
  }
  u64(): bigint {
    const v = this.view.getBigUint64(this.at(), true);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    const v = this.view.getBigInt64(this.at(), true);
    this.pos += 8;
    return v;
  }

  /**
   * The u64 at the current position without advancing (caller checked `has(8)`), as a number when
   * below 2^32, else -1: a string length on the hot path, with no BigInt made for it.
   */
  peekU32OfU64(): number {
    const at = this.at();
    return this.view.getUint32(at + 4, true) === 0 ? this.view.getUint32(at, true) : -1;
  }

  /** A view of the next n buffered bytes (valid until the next `fill`). */
  take(n: number): Uint8Array {
    const a = this.takeIndex(n);
    return this.buf.subarray(a, a + n);
  }

  /** Skips the next n buffered bytes; returns where they start in {@link window} (valid until the next `fill`). */
  takeIndex(n: number): number {
    const a = this.at();
    this.pos += n;
    return a;
  }

  /** The buffer the window's bytes are in, for reading in place with {@link takeIndex}. */
  get window(): Uint8Array {
    return this.buf;
  }
}
