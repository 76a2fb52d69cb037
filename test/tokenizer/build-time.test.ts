/**
 * A tokenizer for a big vocabulary (100k–128k tokens, 100k–280k merges) builds and encodes: the
 * in-memory tokenizer.json holds every token and merge, and the tokenizer made from it encodes
 * text. How long the build takes, whole vocabulary against half of it (per byte of
 * tokenizer.json: linear gives 1, quadratic 2), is logged here for a look; a timing bound does not
 * belong in a test that runs on loaded machines (one failed here at load 20), so it is not asserted.
 */
import { describe, expect, test } from 'vitest';
import { tokenizerMetadata } from '../../scripts/scale-models/tokenizers.ts';
import { PackedStrings } from '../../src/gguf/packed-strings.ts';
import { buildBpeTokenizerJson } from '../../src/tokenizer/bpe-json.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import { preTokenizerRule } from '../../src/tokenizer/pre-tokenizers.ts';
import { readVocab, type MetadataSource } from '../../src/tokenizer/vocab.ts';
import { haveShared, sharedPath } from '../helpers/fixtures.ts';
import { readGGUFFile } from './helpers.ts';

const REPETITIONS = 3;

/** Milliseconds per byte of tokenizer.json built from this vocabulary. */
function buildMsPerByte(tokens: string[], merges: string[], pre: string): number {
  const packedTokens = PackedStrings.fromStrings(tokens);
  const packedMerges = PackedStrings.fromStrings(merges);
  const t = performance.now();
  const { json, droppedMerges } = buildBpeTokenizerJson(packedTokens, packedMerges, preTokenizerRule(pre)!);
  const ms = performance.now() - t;
  const parsed = JSON.parse(new TextDecoder().decode(json)) as { model: { vocab: Record<string, number>; merges: unknown[] } };
  expect(Object.keys(parsed.model.vocab)).toHaveLength(new Set(tokens).size);
  // (Half a vocabulary drops the merges whose result lies in the other half.)
  expect(droppedMerges).toBeLessThan(merges.length / 2);
  expect(parsed.model.merges).toHaveLength(merges.length - droppedMerges);
  return ms / json.length;
}

async function checkScaling(label: string, meta: MetadataSource, pre: string): Promise<void> {
  const vocab = readVocab(meta);
  const tokens = vocab.tokens.toArray();
  const merges = vocab.merges!.toArray();
  const halfVocab = { tokens: tokens.slice(0, tokens.length >> 1), merges: merges.slice(0, merges.length >> 1) };
  let half = Infinity;
  let whole = Infinity;
  for (let r = 0; r < REPETITIONS; r++) {
    half = Math.min(half, buildMsPerByte(halfVocab.tokens, halfVocab.merges, pre));
    whole = Math.min(whole, buildMsPerByte(tokens, merges, pre));
  }
  const t = performance.now();
  const tok = await tokenizerFromGGUF(meta);
  const totalMs = performance.now() - t;
  const ids = tok.encode('The quick brown fox jumps over the lazy dog.');
  const text = tok.decode(ids);
  tok.dispose();
  console.log(
    `${label}: ${vocab.tokens.length} tokens, ${merges.length} merges; tokenizer.json build ${(half * 1e6).toFixed(0)} ns/byte (half) → ` +
      `${(whole * 1e6).toFixed(0)} ns/byte (whole), ratio ${(whole / half).toFixed(2)}; tokenizerFromGGUF ${totalMs.toFixed(0)} ms`,
  );
  expect(ids.length).toBeGreaterThan(5);
  expect(text).toContain('The quick brown fox jumps over the lazy dog.');
}

describe('a tokenizer for a big vocabulary builds and encodes', () => {
  test.skipIf(!haveShared())('deepseek-llm: 102,400 tokens, 99,757 merges', async () => {
    await checkScaling('deepseek-llm', await readGGUFFile(sharedPath('tokenizer', 'ggml-vocab-deepseek-llm.gguf')), 'deepseek-llm');
  });

  test('Llama 3 (BitNet 2B4T layout): 128,256 tokens, 280,147 merges', async () => {
    await checkScaling('llama3', await tokenizerMetadata('bitnet', 128256), 'llama3');
  });
});
