/**
 * Building a tokenizer for a big vocab is linear in its size: the in-memory tokenizer.json is
 * written as bytes (no quadratic string building). Absolute speed belongs in the bench, and
 * wall-clock bounds fail on a loaded machine, so this checks the scaling instead: the time per byte
 * of tokenizer.json is about the same for the whole vocabulary as for half of it (a quadratic
 * builder spends twice as long per byte on twice the input). Bytes, not tokens, because later
 * merges are longer strings. Each size is timed several times, interleaved, and the fastest run of
 * each is compared, which keeps the ratio steady when the machine's load drifts.
 */
import { describe, expect, test } from 'vitest';
import { tokenizerMetadata } from '../../scripts/scale-models/tokenizers.ts';
import { buildBpeTokenizerJson } from '../../src/tokenizer/bpe-json.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import { preTokenizerRule } from '../../src/tokenizer/pre-tokenizers.ts';
import { readVocab, type MetadataSource } from '../../src/tokenizer/vocab.ts';
import { haveShared, sharedPath } from '../helpers/fixtures.ts';
import { readGGUFFile } from './helpers.ts';

const REPETITIONS = 3;
/** Per-byte cost, whole ÷ half: linear gives 1, quadratic 2; the margin absorbs GC and timer noise. */
const MAX_PER_BYTE_RATIO = 1.8;

/** Milliseconds per byte of tokenizer.json built from this vocabulary. */
function buildMsPerByte(tokens: string[], merges: string[], pre: string): number {
  const t = performance.now();
  const { json } = buildBpeTokenizerJson(tokens, merges, preTokenizerRule(pre)!);
  const ms = performance.now() - t;
  expect(json.length).toBeGreaterThan(tokens.length);
  return ms / json.length;
}

async function checkScaling(label: string, meta: MetadataSource, pre: string): Promise<void> {
  const vocab = readVocab(meta);
  const merges = vocab.merges!;
  const halfVocab = { tokens: vocab.tokens.slice(0, vocab.tokens.length >> 1), merges: merges.slice(0, merges.length >> 1) };
  let half = Infinity;
  let whole = Infinity;
  for (let r = 0; r < REPETITIONS; r++) {
    half = Math.min(half, buildMsPerByte(halfVocab.tokens, halfVocab.merges, pre));
    whole = Math.min(whole, buildMsPerByte(vocab.tokens, merges, pre));
  }
  const t = performance.now();
  const tok = await tokenizerFromGGUF(meta);
  const totalMs = performance.now() - t;
  const ids = tok.encode('The quick brown fox jumps over the lazy dog.');
  tok.dispose();
  console.log(
    `${label}: ${vocab.tokens.length} tokens, ${merges.length} merges; tokenizer.json build ${(half * 1e6).toFixed(0)} ns/byte (half) → ` +
      `${(whole * 1e6).toFixed(0)} ns/byte (whole), ratio ${(whole / half).toFixed(2)}; tokenizerFromGGUF ${totalMs.toFixed(0)} ms`,
  );
  expect(ids.length).toBeGreaterThan(5);
  expect(whole / half).toBeLessThan(MAX_PER_BYTE_RATIO);
}

describe('tokenizer build time scales linearly with the vocabulary', () => {
  test.skipIf(!haveShared())('deepseek-llm: 102,400 tokens, 99,757 merges', async () => {
    await checkScaling('deepseek-llm', await readGGUFFile(sharedPath('tokenizer', 'ggml-vocab-deepseek-llm.gguf')), 'deepseek-llm');
  });

  test('Llama 3 (BitNet 2B4T layout): 128,256 tokens, 280,147 merges', async () => {
    await checkScaling('llama3', await tokenizerMetadata('bitnet', 128256), 'llama3');
  });
});
