/**
 * A list of strings kept as their UTF-8 bytes back to back plus one offset per string, instead of
 * one JS string each. A vocabulary of 150k tokens and as many merges costs a few MiB this way
 * against ~12 MiB of string objects, and a consumer that works on bytes (the tokenizer.json
 * writer, the token-id hash) never has to make the strings at all.
 */

const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();

export class PackedStrings {
  /**
   * @param bytes every string's UTF-8 bytes, in order
   * @param offsets length + 1 ascending offsets into `bytes`: string i is [offsets[i], offsets[i+1])
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly offsets: Uint32Array,
  ) {
    if (offsets.length === 0 || offsets[0] !== 0 || offsets[offsets.length - 1] !== bytes.length) {
      throw new RangeError('PackedStrings: offsets must run from 0 to the byte length');
    }
  }

  /** Packs JS strings; an unpaired surrogate becomes U+FFFD, as in any UTF-8 encoding of it. */
  static fromStrings(strings: readonly string[]): PackedStrings {
    const builder = new PackedStringsBuilder();
    for (const s of strings) builder.push(encoder.encode(s));
    return builder.finish();
  }

  get length(): number {
    return this.offsets.length - 1;
  }

  /** String `i` (decoded anew on every call). */
  get(i: number): string {
    return decoder.decode(this.bytesOf(i));
  }

  /** The UTF-8 bytes of string `i` (a view into `bytes`). */
  bytesOf(i: number): Uint8Array {
    return this.bytes.subarray(this.offsets[i]!, this.offsets[i + 1]!);
  }

  byteLength(i: number): number {
    return this.offsets[i + 1]! - this.offsets[i]!;
  }

  toArray(): string[] {
    const out = new Array<string>(this.length);
    for (let i = 0; i < out.length; i++) out[i] = this.get(i);
    return out;
  }
}

/**
 * Appends byte strings; `finish` packs them into arrays of the exact size. The bytes and offsets
 * go into blocks that grow like a doubling array's capacity, to at most 64 KiB each, and are kept,
 * not copied, as more come: a 151,936-token vocabulary leaves its bytes once in the blocks and
 * once packed, where one doubling buffer left every smaller capacity behind as well (three times
 * the bytes in garbage, which the load's peak JS heap counts until V8 collects it). With a
 * {@link BlockPool}, `finish` hands the full-size blocks to the next builder of the pool's owner.
 */
export class PackedStringsBuilder {
  private readonly bytes: BlockList<Uint8Array>;
  /** offsets[1..]: the first is always 0. */
  private readonly ends: BlockList<Uint32Array>;

  constructor(pool?: BlockPool) {
    this.bytes = new BlockList((buffer) => new Uint8Array(buffer), 1, 256, pool);
    this.ends = new BlockList((buffer) => new Uint32Array(buffer), 4, 64, pool);
  }

  get byteLength(): number {
    return this.bytes.length;
  }

  push(item: Uint8Array): void {
    this.pushRange(item, 0, item.length);
  }

  /** Appends source[start, end): a string read in place, with no view made for it. */
  pushRange(source: Uint8Array, start: number, end: number): void {
    this.bytes.append(source, start, end);
    this.ends.push(this.bytes.length);
  }

  /** The packed strings; the builder is done (its blocks go back to the pool). */
  finish(): PackedStrings {
    const offsets = new Uint32Array(this.ends.length + 1);
    this.ends.copyTo(offsets, 1);
    const bytes = new Uint8Array(this.bytes.length);
    this.bytes.copyTo(bytes, 0);
    this.ends.release();
    this.bytes.release();
    return new PackedStrings(bytes, offsets);
  }
}

/** Bytes of a full-size block. */
const BLOCK_BYTES = 64 * 1024;

/**
 * Full-size blocks of finished builders, for the next builder of the same owner: the header
 * reader's merges reuse its tokens' blocks, so the blocks are garbage once, not once per array.
 * Dropped with its owner.
 */
export class BlockPool {
  private readonly free: ArrayBuffer[] = [];

  take(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(BLOCK_BYTES);
  }

  give(buffer: ArrayBuffer): void {
    this.free.push(buffer);
  }
}

/** An append-only run of numbers in blocks: each new block as long as all before it, up to 64 KiB. */
class BlockList<A extends Uint8Array | Uint32Array> {
  private readonly full: A[] = [];
  private fullLength = 0;
  private current: A;
  private used = 0;
  private readonly maxItems: number;

  constructor(
    private readonly view: (buffer: ArrayBuffer) => A,
    private readonly bytesPerItem: number,
    firstBlockItems: number,
    private readonly pool?: BlockPool,
  ) {
    this.maxItems = BLOCK_BYTES / bytesPerItem;
    this.current = view(new ArrayBuffer(firstBlockItems * bytesPerItem));
  }

  get length(): number {
    return this.fullLength + this.used;
  }

  push(value: number): void {
    if (this.used === this.current.length) this.nextBlock();
    this.current[this.used++] = value;
  }

  /** Appends items[from, to). */
  append(items: A, from: number, to: number): void {
    while (from < to) {
      if (this.used === this.current.length) this.nextBlock();
      const n = Math.min(to - from, this.current.length - this.used);
      // Short runs (most strings) byte by byte: a view for each would be garbage.
      if (n <= 64) for (let k = 0; k < n; k++) this.current[this.used + k] = items[from + k]!;
      else this.current.set(n === items.length ? items : items.subarray(from, from + n), this.used);
      this.used += n;
      from += n;
    }
  }

  private nextBlock(): void {
    this.full.push(this.current);
    this.fullLength += this.used;
    const items = Math.min(this.maxItems, this.fullLength);
    const buffer = items === this.maxItems && this.pool ? this.pool.take() : new ArrayBuffer(items * this.bytesPerItem);
    this.current = this.view(buffer);
    this.used = 0;
  }

  /** Gives the full-size blocks to the pool (the list is done). */
  release(): void {
    if (!this.pool) return;
    for (const block of [...this.full, this.current]) {
      if (block.length === this.maxItems) this.pool.give(block.buffer as ArrayBuffer);
    }
    // nothing is left to give twice
    this.full.length = 0;
    this.fullLength = 0;
    this.current = this.view(new ArrayBuffer(0));
    this.used = 0;
  }

  /** Writes every item into `out` from `at`. */
  copyTo(out: A, at: number): void {
    for (const block of this.full) {
      out.set(block, at);
      at += block.length;
    }
    out.set(this.current.subarray(0, this.used), at);
  }
}

/**
 * Whether bytes[start, end) is well-formed UTF-8 as a fatal TextDecoder defines it: no overlong
 * forms, no surrogates, nothing above U+10FFFF, no sequence cut short by `end`.
 */
export function isWellFormedUtf8(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  let i = start;
  while (i < end) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0)
        lo = 0xa0; // overlong
      else if (b === 0xed) hi = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0)
        lo = 0x90; // overlong
      else if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return false;
    if (i + need >= end) return false; // cut short
    const second = bytes[i + 1]!;
    if (second < lo || second > hi) return false;
    for (let k = 2; k <= need; k++) {
      const c = bytes[i + k]!;
      if (c < 0x80 || c > 0xbf) return false;
    }
    i += need + 1;
  }
  return true;
}
