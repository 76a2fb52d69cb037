/**
 * A hostile vocabulary must not make tokenization hang. Attack: 200,000 user-defined special
 * tokens that all start with "<|"; every "<|" in the input used to be compared against each of
 * them (minutes for a 20,000-character prompt).
 */
import { describe, expect, it } from 'vitest';
import { partitionSpecial, SpecialTokenSplitter } from '../../src/tokenizer/partition.ts';
import { Attr } from '../../src/tokenizer/special-tokens.ts';

describe('special-token splitting on a hostile vocabulary', () => {
  const n = 200_000;
  const tokens = Array.from({ length: n }, (_, i) => `<|${i}|>`);
  tokens.push('<|', '<', 'x'); // a 2-unit token that is every other token's prefix, single units
  const attrs = new Uint16Array(tokens.length).fill(Attr.UserDefined);
  // Longest first, as the tokenizer orders them.
  const order = tokens.map((_, i) => i).sort((a, b) => tokens[b]!.length - tokens[a]!.length || a - b);
  const splitter = new SpecialTokenSplitter(order, tokens, attrs);

  it('splits a long prompt full of the shared prefix (20,000 characters) in under 3 seconds', () => {
    const text = '<|'.repeat(10_000) + '<|7|>x<|199999|><|12';
    const t0 = performance.now();
    const frags = splitter.split(text, false);
    const ms = performance.now() - t0;
    expect(frags).toEqual(partitionSpecial(text, order, tokens, attrs, false));
    expect(frags.slice(-6)).toEqual([tokens.indexOf('<|'), 7, n + 2, 199_999, n, '12']);
    expect(ms).toBeLessThan(3_000);
  });

  it('finds the same tokens as the plain partition on mixed text', () => {
    const text = 'a<|5|>b <|55|><|5|< <|x|> <|123456|>x<<|';
    expect(splitter.split(text, false)).toEqual(partitionSpecial(text, order, tokens, attrs, false));
  });
});
