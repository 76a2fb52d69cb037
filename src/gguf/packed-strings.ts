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

/** Appends byte strings into growing buffers (capacity doubles); `finish` trims them to size. */
export class PackedStringsBuilder {
  private bytes = new Uint8Array(256);
  private offsets = new Uint32Array(64);
  private count = 0;
  private used = 0;

  get byteLength(): number {
    return this.used;
  }

  push(item: Uint8Array): void {
    if (this.used + item.length > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.used + item.length));
      grown.set(this.bytes.subarray(0, this.used));
      this.bytes = grown;
    }
    if (this.count + 2 > this.offsets.length) {
      const grown = new Uint32Array(this.offsets.length * 2);
      grown.set(this.offsets.subarray(0, this.count + 1));
      this.offsets = grown;
    }
    this.bytes.set(item, this.used);
    this.used += item.length;
    this.offsets[++this.count] = this.used;
  }

  finish(): PackedStrings {
    return new PackedStrings(this.bytes.slice(0, this.used), this.offsets.slice(0, this.count + 1));
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
