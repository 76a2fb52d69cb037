import { setFlagsFromString } from 'node:v8';
import { describe, expect, test } from 'vitest';
import { PackedStrings } from '../../src/gguf/packed-strings.ts';
import { buildBpeTokenizerJson } from '../../src/tokenizer/bpe-json.ts';
import { preTokenizerRule } from '../../src/tokenizer/pre-tokenizers.ts';
import { TokenIndex } from '../../src/tokenizer/token-index.ts';
import { collectGarbage } from '../helpers/live-memory.ts';

describe('token index and tokenizer.json from packed bytes', () => {
  test('looks texts up by their bytes; a repeated text maps to its last id, as a Map filled in id order', () => {
    const tokens = ['a', 'b', 'ab', 'Ġ', 'a', '', '日本'];
    const index = new TokenIndex(PackedStrings.fromStrings(tokens));
    const map = new Map<string, number>();
    tokens.forEach((t, i) => map.set(t, i));
    for (const t of [...tokens, 'abc', 'x', '日']) expect(index.get(t), t).toBe(map.get(t));
    expect(index.idOfBytes(new TextEncoder().encode('xaby'), 1, 3)).toBe(2);
  });

  test('escapes tokens exactly as JSON.stringify does, and drops merges that could never apply', () => {
    const tokens = ['"', '\\', '\n', '\u0001', '\u007f', 'é', 'a', 'b', 'ab', '"\\'];
    const merges = ['a b', '" \\', 'a b', 'b a', 'a é'];
    const { json, droppedMerges } = buildBpeTokenizerJson(
      PackedStrings.fromStrings(tokens),
      PackedStrings.fromStrings(merges),
      preTokenizerRule('default')!,
    );
    expect(json.byteLength).toBe(json.buffer.byteLength);
    const text = new TextDecoder().decode(json);
    for (const t of tokens) expect(text).toContain(`${JSON.stringify(t)}:${tokens.indexOf(t)}`);
    const parsed = JSON.parse(text) as { model: { vocab: Record<string, number>; merges: string[][] } };
    expect(Object.keys(parsed.model.vocab)).toHaveLength(tokens.length);
    // the repeat of "a b", "b a" (no "ba" token) and "a é" (no "aé") are dropped
    expect(parsed.model.merges).toEqual([
      ['a', 'b'],
      ['"', '\\'],
    ]);
    expect(droppedMerges).toBe(3);
    expect(() =>
      buildBpeTokenizerJson(PackedStrings.fromStrings(['a']), PackedStrings.fromStrings(['ab']), preTokenizerRule('default')!),
    ).toThrow(/merges\[0\] = "ab" has no space/);
  });

  test('writes a 150k-token JSON with the JSON itself and under 768 KiB of other buffers, and no object per token', () => {
    // Free dead ArrayBuffers' memory during a collection itself, so a collection can only lower the counts.
    setFlagsFromString('--no-concurrent-array-buffer-sweeping');
    const tokens: string[] = [];
    const merges: string[] = [];
    for (let k = 0; k < 50_000; k++) {
      tokens.push(`p${k}`, `q${k}`, `p${k}q${k}`);
      merges.push(`p${k} q${k}`);
    }
    const packedTokens = PackedStrings.fromStrings(tokens);
    const packedMerges = PackedStrings.fromStrings(merges);
    const index = new TokenIndex(packedTokens);
    collectGarbage(); // the setup's garbage must not be collected inside the measurement
    const before = process.memoryUsage();
    const { json, droppedMerges } = buildBpeTokenizerJson(packedTokens, packedMerges, preTokenizerRule('default')!, index);
    const after = process.memoryUsage();
    expect(droppedMerges).toBe(0);
    // the merge set and a byte per merge; an escaped length per token and two ids per merge before
    expect(after.arrayBuffers - before.arrayBuffers - json.buffer.byteLength).toBeLessThan(768 * 1024);
    // a digit string per id and a view per token and merge side came to ~10 MiB of heap before
    expect(after.heapUsed - before.heapUsed).toBeLessThan(3 * 1024 * 1024);
    const parsed = JSON.parse(new TextDecoder().decode(json)) as { model: { vocab: Record<string, number>; merges: string[][] } };
    expect(parsed.model.vocab['p49999q49999']).toBe(149_999);
    expect(parsed.model.merges[49_999]).toEqual(['p49999', 'q49999']);
  });
});
