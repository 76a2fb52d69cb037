import { setFlagsFromString } from 'node:v8';
import { describe, expect, test } from 'vitest';
import { BlockPool, isWellFormedUtf8, PackedStrings, PackedStringsBuilder } from '../../src/gguf/packed-strings.ts';
import { GGUFArray, GGUFValueType } from '../../src/gguf/values.ts';

describe('packed strings', () => {
  test('isWellFormedUtf8 agrees with a fatal TextDecoder on 1–4 byte sequences of boundary bytes', () => {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const decodes = (b: Uint8Array) => {
      try {
        decoder.decode(b);
        return true;
      } catch {
        return false;
      }
    };
    // the edges of every range the UTF-8 grammar distinguishes
    const edges = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee];
    edges.push(0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff);
    const disagreements: number[][] = [];
    const check = (seq: number[]) => {
      const bytes = Uint8Array.from(seq);
      if (decodes(bytes) !== isWellFormedUtf8(bytes)) disagreements.push(seq);
    };
    for (const a of edges) {
      check([a]);
      for (const b of edges) {
        check([a, b]);
        for (const c of edges) {
          check([a, b, c]);
          // a fourth byte matters only after a 4-byte lead, and only as continuation or not
          if (a >= 0xf0) for (const d of [0x41, 0x7f, 0x80, 0xbf, 0xc0]) check([a, b, c, d]);
        }
      }
    }
    expect(disagreements.slice(0, 5)).toEqual([]);
  });

  test('round-trips strings (empty, multi-byte, a BOM) and turns an unpaired surrogate into U+FFFD', () => {
    const strings = ['', 'a', 'ĠHello', '\uFEFFbom', '😀', 'lone \uD800 high'];
    const packed = PackedStrings.fromStrings(strings);
    expect(packed.length).toBe(6);
    expect(packed.toArray()).toEqual([...strings.slice(0, 5), 'lone \uFFFD high']);
    expect(packed.byteLength(4)).toBe(4);
    expect(() => new PackedStrings(new Uint8Array(3), Uint32Array.of(0, 2))).toThrow(RangeError);
  });

  test('the builder packs 150k strings (long ones across its blocks) exactly, allocating about twice their bytes, not three times', () => {
    // Free dead ArrayBuffers' memory during a collection itself, so a collection can only lower the count.
    setFlagsFromString('--no-concurrent-array-buffer-sweeping');
    const items: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < 150_000; i++) {
      const n = i === 77_777 ? 200_000 : 2 + (i % 17); // one item longer than a block
      const item = new Uint8Array(n).fill(i & 0xff);
      items.push(item);
      total += n;
    }
    const before = process.memoryUsage().arrayBuffers;
    const builder = new PackedStringsBuilder();
    for (const item of items) builder.push(item);
    expect(builder.byteLength).toBe(total);
    const packed = builder.finish();
    const allocated = process.memoryUsage().arrayBuffers - before;
    // bytes and offsets once in the blocks and once packed; a doubling buffer also left every
    // smaller capacity behind (~3 times the bytes)
    const exact = total + 4 * (items.length + 1);
    expect(allocated).toBeGreaterThanOrEqual(exact);
    expect(allocated).toBeLessThan(2.2 * exact);
    expect(packed.bytes.length).toBe(total);
    expect(packed.length).toBe(items.length);
    for (const i of [0, 1, 65_535, 77_777, 77_778, 149_999]) expect(packed.bytesOf(i)).toEqual(items[i]);
    expect(packed.offsets[0]).toBe(0);
  });

  test('builders sharing a pool reuse the full-size blocks of the one before, and each packs its own strings', () => {
    // Counts which blocks the pool hands out, rather than the process's ArrayBuffer bytes, which
    // anything else in the process (the test runner's messages) can move while the builder runs.
    class RecordingPool extends BlockPool {
      readonly given = new Set<ArrayBuffer>();
      fresh = 0;
      reused = 0;
      override give(buffer: ArrayBuffer): void {
        this.given.add(buffer);
        super.give(buffer);
      }
      override take(): ArrayBuffer {
        const buffer = super.take();
        if (this.given.has(buffer)) this.reused++;
        else this.fresh++;
        return buffer;
      }
    }
    const pool = new RecordingPool();
    const build = (salt: number) => {
      const builder = new PackedStringsBuilder(pool);
      for (let i = 0; i < 100_000; i++) builder.push(new TextEncoder().encode(`${salt}:${i}`));
      return builder.finish();
    };
    const first = build(1);
    const freshForFirst = pool.fresh;
    expect(freshForFirst).toBeGreaterThan(0);
    expect(pool.given.size).toBe(freshForFirst); // every full-size block went back to the pool
    const second = build(2);
    // The same strings' worth of blocks again: every full-size one is a block the first gave back.
    expect(pool.fresh).toBe(freshForFirst);
    expect(pool.reused).toBe(freshForFirst);
    expect(first.get(99_999)).toBe('1:99999');
    expect(second.length).toBe(100_000);
    for (const i of [0, 4095, 65_536, 99_999]) expect(second.get(i)).toBe(`2:${i}`);
    expect(first.get(65_536)).toBe('1:65536'); // the packed copies share nothing with the blocks
  });

  test('a STRING GGUFArray holds its items packed however they were given', () => {
    const arr = new GGUFArray(GGUFValueType.STRING, ['x', 'yz']);
    expect(arr.packedStrings?.toArray()).toEqual(['x', 'yz']);
    expect(arr.items).toEqual(['x', 'yz']);
    expect(arr.at(1)).toBe('yz');
    expect(arr.at(2)).toBeUndefined();
    expect(arr).toEqual(new GGUFArray(GGUFValueType.STRING, PackedStrings.fromStrings(['x', 'yz'])));
    expect(new GGUFArray(GGUFValueType.INT32, Int32Array.of(1)).packedStrings).toBeUndefined();
  });
});
