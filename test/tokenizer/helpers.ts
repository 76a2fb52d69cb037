import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readGGUF } from '../../src/gguf/reader.ts';
import type { GGUFFile } from '../../src/gguf/file.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { writeGGUFToBytes } from '../../src/gguf/writer.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { repoRoot } from '../helpers/fixtures.ts';

export const committedVectors = join(repoRoot, 'test/tokenizer/vectors');

export async function readGGUFFile(path: string): Promise<GGUFFile> {
  const src = await FileByteSource.open(path);
  try {
    return await readGGUF(src);
  } finally {
    await src.close();
  }
}

export async function tokenizerFromFile(path: string): Promise<Tokenizer> {
  return tokenizerFromGGUF(await readGGUFFile(path));
}

export interface TokenizerVector {
  text: string;
  ids: number[];
}

/** llama.cpp's test-tokenizer-0 format: `.inp` strings split on the separator, `.out` id lines. */
export function readVectors(base: string): TokenizerVector[] {
  const texts = readFileSync(base + '.inp', 'utf8').split('\n__ggml_vocab_test__\n');
  texts.pop(); // the separator also follows the last string
  const lines = readFileSync(base + '.out', 'utf8').split('\n');
  if (lines.length < texts.length) throw new Error(`${base}.out has ${lines.length} lines for ${texts.length} inputs`);
  return texts.map((text, i) => {
    const line = lines[i]!.trim();
    return { text, ids: line === '' ? [] : line.split(' ').map(Number) };
  });
}

/** Runs every vector (add_special=false, parse_special=false); returns the failures. */
export function failingVectors(tok: Tokenizer, vectors: TokenizerVector[]): { text: string; want: number[]; got: number[] }[] {
  const failures = [];
  for (const v of vectors) {
    const got = tok.encode(v.text, { addSpecial: false, parseSpecial: false });
    if (got.length !== v.ids.length || got.some((id, i) => id !== v.ids[i])) failures.push({ text: v.text, want: v.ids, got });
  }
  return failures;
}

/**
 * A vocab-only GGUF llama.cpp accepts (node-llama-cpp's `vocabOnly` load): the tokenizer keys plus
 * a llama architecture header and no tensors.
 */
export async function writeVocabGGUF(path: string, tokenizerMeta: Map<string, unknown>): Promise<string> {
  const metadata: Record<string, unknown> = {
    'general.architecture': 'llama',
    'llama.block_count': 1,
    'llama.context_length': 4096,
    'llama.embedding_length': 64,
    'llama.feed_forward_length': 128,
    'llama.attention.head_count': 1,
    'llama.attention.layer_norm_rms_epsilon': 1e-5,
  };
  for (const [k, v] of tokenizerMeta) metadata[k] = v;
  writeFileSync(path, await writeGGUFToBytes({ metadata }));
  return path;
}
