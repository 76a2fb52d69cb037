/**
 * Tokenizer.minTokenCount: the lower bound on a text's token count that lets the engine refuse a
 * prompt far too long for its context before encoding it (encoding costs memory in proportion to
 * the text). The bound must never exceed the real count, or a prompt that fits would be refused.
 */
import { describe, expect, test } from 'vitest';
import { ContextOverflowError } from '../../src/errors.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { haveShared, localModel, sharedPath } from '../helpers/fixtures.ts';
import { readVectors, tokenizerFromFile } from './helpers.ts';

/** Texts that pack the most characters into each token: the vocab's longest tokens, repeated. */
function densestTexts(tok: Tokenizer): string[] {
  const texts: string[] = [];
  for (let id = 0; id < tok.vocabSize; id++) texts.push(tok.decode([id], { special: true }));
  texts.sort((a, b) => b.length - a.length);
  return texts.slice(0, 20).map((t) => t.repeat(50));
}

function checkBound(tok: Tokenizer, texts: string[]): void {
  for (const text of texts) {
    for (const parseSpecial of [false, true]) {
      const n = tok.encode(text, { addSpecial: false, parseSpecial }).length;
      expect(tok.minTokenCount(text), JSON.stringify(text.slice(0, 60))).toBeLessThanOrEqual(n);
    }
  }
}

test('stories260K (SentencePiece with byte fallback): the bound holds and refuses a 10M-character prompt at once', async () => {
  const tok = await tokenizerFromFile(localModel('stories260K.gguf'));
  checkBound(tok, [...densestTexts(tok), 'Once upon a time', '  \n\n\t ', '日本語 🎉 é']);
  expect(tok.minTokenCount('a'.repeat(1000))).toBeGreaterThan(0);
  const t0 = performance.now();
  const err = (() => {
    try {
      return tok.encode('a'.repeat(10_000_000), { contextSize: 2048 });
    } catch (e) {
      return e;
    }
  })();
  expect(err).toBeInstanceOf(ContextOverflowError);
  expect((err as Error).message).toMatch(/the prompt has 10000000 characters, so at least \d+ tokens; .*2048-token context/);
  expect(performance.now() - t0).toBeLessThan(500);
  // A text that fits is encoded as before.
  expect(tok.encode('Once upon a time', { contextSize: 2048 })).toEqual(tok.encode('Once upon a time'));
  tok.dispose();
});

describe.skipIf(!haveShared())('llama.cpp vocab GGUFs: the bound never exceeds the real count', () => {
  for (const name of ['llama-spm', 'phi-3', 'gpt-2', 'deepseek-coder', 'falcon', 'starcoder', 'bert-bge']) {
    test(name, async () => {
      const base = sharedPath('tokenizer', `ggml-vocab-${name}.gguf`);
      const tok = await tokenizerFromFile(base);
      checkBound(tok, [...densestTexts(tok), ...readVectors(base).map((v) => v.text)]);
      // No bound where characters can vanish, so nothing is refused early: WordPiece's normalizer
      // drops some; falcon's and starcoder's BPE vocabs cannot spell every byte, which the core drops.
      const bounded = !['bert-bge', 'falcon', 'starcoder'].includes(name);
      expect(tok.minTokenCount('a'.repeat(1000)) > 0).toBe(bounded);
      tok.dispose();
    });
  }
});
