/**
 * GGUF tokenizer metadata → a ready Tokenizer.
 *
 * - `llama` (SentencePiece): a SentencePiece ModelProto run by the wasm SentencePiece (spm-model.ts).
 * - `gpt2` (byte-level BPE): an HF tokenizer.json with the pre-tokenizer regexes named by
 *   `tokenizer.ggml.pre` (bpe-json.ts). Without `pre`, a Llama-3 vocabulary (BitNet b1.58 2B4T
 *   ships one) gets the Llama-3 rules; anything else gets llama.cpp's "default" rules.
 * - `bert` (WordPiece): an HF tokenizer.json with BERT normalization (wpm-json.ts).
 * Other kinds (t5/UGM, rwkv, plamo2, …) are refused with a TokenizerError.
 */
import { ModelFormatError, TokenizerError } from '../errors.ts';
import type { PackedStrings } from '../gguf/packed-strings.ts';
import { buildBpeTokenizerJson } from './bpe-json.ts';
import { BYTE_TO_CHAR } from './byte-level.ts';
import { preTokenizerRule, supportedPreTokenizers, type PreTokenizerRule } from './pre-tokenizers.ts';
import { buildSpecialTokens, type TokenizerKind } from './special-tokens.ts';
import { buildSentencePieceModel } from './spm-model.ts';
import { Tokenizer } from './tokenizer.ts';
import { TokenIndex } from './token-index.ts';
import { readVocab, type GGUFVocab, type MetadataSource } from './vocab.ts';
import { loadWebTokenizers, type WasmTokenizer } from './web-tokenizers.ts';
import { buildWordPieceTokenizerJson } from './wpm-json.ts';

const KIND_BY_MODEL: Record<string, TokenizerKind> = { llama: 'spm', gpt2: 'bpe', bert: 'wpm' };

export async function tokenizerFromGGUF(meta: MetadataSource): Promise<Tokenizer> {
  const vocab = readVocab(meta);
  const kind = Object.hasOwn(KIND_BY_MODEL, vocab.model) ? KIND_BY_MODEL[vocab.model] : undefined; // the name comes from the file
  if (!kind) {
    throw new TokenizerError(
      `tokenizer.ggml.model "${vocab.model}" is not supported (supported: llama = SentencePiece, gpt2 = byte-level BPE, bert = WordPiece)`,
    );
  }
  const warnings = [...vocab.warnings];
  const tokenIndex = new TokenIndex(vocab.tokens);
  const special = buildSpecialTokens(vocab, kind, tokenIndex);
  const factory = await loadWebTokenizers();

  let core: WasmTokenizer;
  let pre: string | null = null;
  let addBos: boolean;
  let addSpacePrefix = false;
  let syntheticUnkId: number | null = null;
  // Byte-level BPE and SentencePiece with byte fallback drop no input: every character ends up in
  // some token, and no token stands for more characters than its own text has (a byte-level
  // token's text has one character per byte, and a character has at least one byte).
  let maxTokenChars: number | null = null;
  const longestToken = () => longestTokenChars(vocab.tokens);
  if (kind === 'spm') {
    addBos = vocab.addBos ?? true;
    addSpacePrefix = vocab.addSpacePrefix ?? true;
    // the unknown token: as declared, else the vocab's UNKNOWN-type token, else none (llama.cpp's
    // default of id 0 would silently turn unspellable text into whatever token 0 is, often BOS)
    const spm = buildSentencePieceModel(vocab, vocab.ids.unk, addSpacePrefix);
    if (spm.syntheticUnk) {
      syntheticUnkId = spm.unkId;
      delete special.ids.unk;
    } else {
      special.ids.unk = spm.unkId;
    }
    if (spm.byteFallback) maxTokenChars = longestToken();
    core = await wasmBuild('SentencePiece model', () => factory.fromSentencePiece(copyBuffer(spm.proto)));
  } else if (kind === 'bpe') {
    const chosen = chooseRule(vocab, tokenIndex, warnings);
    pre = chosen.name;
    addBos = vocab.addBos ?? chosen.rule.addBos ?? false;
    if (!vocab.merges) throw new ModelFormatError('tokenizer.ggml.merges is missing: a gpt2 (BPE) vocabulary needs its merges');
    const { json, droppedMerges } = buildBpeTokenizerJson(vocab.tokens, vocab.merges, chosen.rule, tokenIndex);
    if (droppedMerges > 0) warnings.push(`${droppedMerges} merges refer to tokens outside the vocabulary and were ignored`);
    // A byte the vocab cannot spell is dropped by the BPE core (it has no unknown token).
    if (BYTE_TO_CHAR.every((c) => tokenIndex.has(c))) maxTokenChars = longestToken();
    core = await wasmBuild('BPE tokenizer.json', () => factory.fromJSON(json.buffer as ArrayBuffer));
  } else {
    addBos = true;
    const lowercase = readLowercase(meta);
    const json = buildWordPieceTokenizerJson(vocab.tokens.toArray(), special.ids.unk, lowercase);
    core = await wasmBuild('WordPiece tokenizer.json', () => factory.fromJSON(copyBuffer(json)));
  }

  return new Tokenizer({
    kind,
    pre,
    tokens: vocab.tokens,
    special,
    addBos,
    addEos: vocab.addEos ?? false,
    addSpacePrefix,
    chatTemplate: vocab.chatTemplate,
    core,
    syntheticUnkId,
    maxTokenChars,
    warnings,
  });
}

/** The split rules for a BPE vocab, by `tokenizer.ggml.pre` or, when absent, by recognising the vocab. */
function chooseRule(vocab: GGUFVocab, tokenIndex: TokenIndex, warnings: string[]): { name: string; rule: PreTokenizerRule } {
  if (vocab.pre !== null) {
    const rule = preTokenizerRule(vocab.pre);
    if (!rule) {
      throw new TokenizerError(
        `tokenizer.ggml.pre "${vocab.pre}" is not supported; known pre-tokenizers: ${supportedPreTokenizers().join(', ')}`,
      );
    }
    return { name: vocab.pre, rule };
  }
  if (isLlama3Vocab(vocab, tokenIndex)) {
    warnings.push('no tokenizer.ggml.pre: Llama-3 vocabulary recognised, using the llama3 pre-tokenizer');
    return { name: 'llama3', rule: preTokenizerRule('llama3')! };
  }
  warnings.push('no tokenizer.ggml.pre: using llama.cpp\'s "default" pre-tokenizer (output may differ from the original tokenizer)');
  return { name: 'default', rule: preTokenizerRule('default')! };
}

/** Llama 3's 128k vocabulary: <|begin_of_text|> at 128000 and <|eot_id|> present. */
export function isLlama3Vocab(vocab: GGUFVocab, tokenIndex: TokenIndex): boolean {
  return vocab.tokens.length > 128000 && vocab.tokens.get(128000) === '<|begin_of_text|>' && tokenIndex.has('<|eot_id|>');
}

/** The longest token in UTF-16 code units (a 4-byte UTF-8 character is two), counted on the bytes. */
function longestTokenChars(tokens: PackedStrings): number {
  const { bytes, offsets } = tokens;
  let longest = 1;
  for (let i = 0; i < tokens.length; i++) {
    let units = 0;
    for (let k = offsets[i]!; k < offsets[i + 1]!; k++) {
      const b = bytes[k]!;
      if ((b & 0xc0) !== 0x80) units += b >= 0xf0 ? 2 : 1;
    }
    longest = Math.max(longest, units);
  }
  return longest;
}

function readLowercase(meta: MetadataSource): boolean {
  const v = meta.get('tokenizer.ggml.normalizer.lowercase');
  return typeof v === 'boolean' ? v : true;
}

/** The wasm side aborts (rather than returning an error) on input it rejects; keep that typed. */
async function wasmBuild(what: string, make: () => Promise<WasmTokenizer>): Promise<WasmTokenizer> {
  try {
    return await make();
  } catch (err) {
    throw new TokenizerError(`the wasm tokenizer rejected the ${what} built from this vocabulary: ${String(err)}`, { cause: err });
  }
}

/** A standalone ArrayBuffer holding exactly these bytes (the wasm factories take ArrayBuffers). */
function copyBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}
