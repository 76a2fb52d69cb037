/**
 * Token text → id over a packed vocabulary: an open-addressing hash of ids (one Int32Array, two
 * slots per token) whose keys are the tokens' UTF-8 bytes. A Map of 150k strings costs ~7 MiB
 * plus the strings; this costs 4 bytes a slot and makes no string. A text that occurs more than
 * once maps to its last id, as filling a Map in id order would.
 */
import type { PackedStrings } from '../gguf/packed-strings.ts';

const encoder = new TextEncoder();

/**
 * FNV-1a over bytes[start, end), from a basis drawn per process so that a crafted vocabulary
 * cannot count on its tokens colliding.
 */
const HASH_BASIS = (Math.random() * 0x100000000) >>> 0;
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = HASH_BASIS;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

/** a[aStart, aEnd) holds the same bytes as b[bStart, bEnd). */
export function sameBytes(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): boolean {
  const len = aEnd - aStart;
  if (bEnd - bStart !== len) return false;
  for (let k = 0; k < len; k++) if (a[aStart + k] !== b[bStart + k]) return false;
  return true;
}

export class TokenIndex {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(private readonly tokens: PackedStrings) {
    // at most 2/3 full: short probes, and half the memory of a table twice the vocabulary
    let size = 16;
    while (size * 2 < tokens.length * 3) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    const { bytes, offsets } = tokens;
    for (let id = 0; id < tokens.length; id++) {
      const slot = this.find(bytes, offsets[id]!, offsets[id + 1]!);
      this.slots[slot] = id;
    }
  }

  /** The id of the token whose bytes are key[start, end), or undefined. */
  idOfBytes(key: Uint8Array, start = 0, end = key.length): number | undefined {
    const id = this.slots[this.find(key, start, end)]!;
    return id < 0 ? undefined : id;
  }

  get(text: string): number | undefined {
    return this.idOfBytes(encoder.encode(text));
  }

  has(text: string): boolean {
    return this.get(text) !== undefined;
  }

  /** The slot holding key[start, end), or the empty slot where it would go. */
  private find(key: Uint8Array, start: number, end: number): number {
    const { bytes, offsets } = this.tokens;
    let slot = hashBytes(key, start, end) & this.mask;
    for (;;) {
      const id = this.slots[slot]!;
      if (id < 0) return slot;
      if (sameBytes(bytes, offsets[id]!, offsets[id + 1]!, key, start, end)) return slot;
      slot = (slot + 1) & this.mask;
    }
  }
}
