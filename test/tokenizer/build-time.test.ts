/**
 * Building a tokenizer for a big vocab stays well under a second or two of work: the in-memory
 * tokenizer.json is written as bytes (no quadratic string building) and the wasm parse dominates.
 * Prints the measured phases; the bounds are loose so a loaded 2-core machine still passes.
 */
import { describe, expect, test } from 'vitest';
import { tokenizerMetadata } from '../../scripts/scale-models/tokenizers.ts';
import { buildBpeTokenizerJson } from '../../src/tokenizer/bpe-json.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import { preTokenizerRule } from '../../src/tokenizer/pre-tokenizers.ts';
import { readVocab, type MetadataSource } from '../../src/tokenizer/vocab.ts';
import { haveShared, sharedPath } from '../helpers/fixtures.ts';
import { readGGUFFile } from './helpers.ts';

async function measure(label: string, meta: MetadataSource, pre: string): Promise<{ jsonMs: number; totalMs: number }> {
  const vocab = readVocab(meta);
  let t = performance.now();
  const { json } = buildBpeTokenizerJson(vocab.tokens, vocab.merges!, preTokenizerRule(pre)!);
  const jsonMs = performance.now() - t;
  t = performance.now();
  const tok = await tokenizerFromGGUF(meta);
  const totalMs = performance.now() - t;
  const text = 'The quick brown fox jumps over the lazy dog. '.repeat(2000);
  t = performance.now();
  const ids = tok.encode(text);
  const encodeMs = performance.now() - t;
  tok.dispose();
  console.log(
    `${label}: ${vocab.tokens.length} tokens, ${vocab.merges!.length} merges, tokenizer.json ${(json.length / 1e6).toFixed(1)} MB; ` +
      `JSON build ${jsonMs.toFixed(0)} ms, tokenizerFromGGUF ${totalMs.toFixed(0)} ms (wasm parse included); ` +
      `encode ${text.length} chars → ${ids.length} tokens in ${encodeMs.toFixed(0)} ms`,
  );
  return { jsonMs, totalMs };
}

describe('tokenizer build time', () => {
  test.skipIf(!haveShared())('deepseek-llm: 102,400 tokens, 99,757 merges', async () => {
    const { jsonMs, totalMs } = await measure(
      'deepseek-llm',
      await readGGUFFile(sharedPath('tokenizer', 'ggml-vocab-deepseek-llm.gguf')),
      'deepseek-llm',
    );
    expect(jsonMs).toBeLessThan(1500);
    expect(totalMs).toBeLessThan(6000);
  });

  test('Llama 3 (BitNet 2B4T layout): 128,256 tokens, 280,147 merges', async () => {
    const { jsonMs, totalMs } = await measure('llama3', await tokenizerMetadata('bitnet', 128256), 'llama3');
    expect(jsonMs).toBeLessThan(3000);
    expect(totalMs).toBeLessThan(12000);
  });
});
