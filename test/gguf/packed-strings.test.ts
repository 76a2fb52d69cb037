import { describe, expect, test } from 'vitest';
import { isWellFormedUtf8, PackedStrings } from '../../src/gguf/packed-strings.ts';
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
