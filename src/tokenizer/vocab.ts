/**
 * Reads the tokenizer part of GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`) into
 * a plain, validated structure. Nothing here tokenizes; from-gguf.ts decides what to build.
 */
import { ModelFormatError } from '../errors.ts';
import { PackedStrings, PackedStringsBuilder } from '../gguf/packed-strings.ts';
import { GGUFArray } from '../gguf/values.ts';

/**
 * What the tokenizer needs from a GGUF reader: a metadata value by key, undefined when absent
 * (`GGUFFile` from src/gguf satisfies it; so does a Map of plain values).
 */
export interface MetadataSource {
  get(key: string): unknown;
}

/** GGUF `tokenizer.ggml.token_type` values (the SentencePiece piece types, plus 0 = undefined). */
export const TokenType = {
  Undefined: 0,
  Normal: 1,
  Unknown: 2,
  Control: 3,
  UserDefined: 4,
  Unused: 5,
  Byte: 6,
} as const;

export interface GGUFVocab {
  /** `tokenizer.ggml.model`: "llama" (SentencePiece), "gpt2" (byte-level BPE), "bert" (WordPiece), … */
  model: string;
  /** `tokenizer.ggml.pre`, null when absent. */
  pre: string | null;
  /** The token texts, packed (a 150k vocabulary as JS strings would cost ~12 MiB). */
  tokens: PackedStrings;
  /** Per-token scores (SPM merge priority); null when absent. */
  scores: Float32Array | null;
  /** Per-token types (TokenType); all Normal when the key is absent. */
  tokenTypes: Int32Array;
  /** BPE merges as "left right" strings in rank order, packed; null when absent. */
  merges: PackedStrings | null;
  /** Special ids present in the metadata (a key that is absent or out of range is left out). */
  ids: Partial<Record<SpecialIdName, number>>;
  /** Metadata flags, null when the key is absent (defaults depend on the tokenizer kind). */
  addBos: boolean | null;
  addEos: boolean | null;
  addSep: boolean | null;
  addSpacePrefix: boolean | null;
  chatTemplate: string | null;
  /** `general.name`, used by llama.cpp for per-model token attributes (Phi-3). */
  modelName: string | null;
  /** Problems that were tolerated the way llama.cpp tolerates them. */
  warnings: string[];
}

export type SpecialIdName =
  'bos' | 'eos' | 'eot' | 'eom' | 'unk' | 'sep' | 'pad' | 'cls' | 'mask' | 'fimPre' | 'fimSuf' | 'fimMid' | 'fimPad' | 'fimRep' | 'fimSep';

const SPECIAL_ID_KEYS: [SpecialIdName, string][] = [
  ['bos', 'tokenizer.ggml.bos_token_id'],
  ['eos', 'tokenizer.ggml.eos_token_id'],
  ['eot', 'tokenizer.ggml.eot_token_id'],
  ['eom', 'tokenizer.ggml.eom_token_id'],
  ['unk', 'tokenizer.ggml.unknown_token_id'],
  ['sep', 'tokenizer.ggml.seperator_token_id'], // sic: llama.cpp's key spelling
  ['pad', 'tokenizer.ggml.padding_token_id'],
  ['cls', 'tokenizer.ggml.cls_token_id'],
  ['mask', 'tokenizer.ggml.mask_token_id'],
  ['fimPre', 'tokenizer.ggml.fim_pre_token_id'],
  ['fimSuf', 'tokenizer.ggml.fim_suf_token_id'],
  ['fimMid', 'tokenizer.ggml.fim_mid_token_id'],
  ['fimPad', 'tokenizer.ggml.fim_pad_token_id'],
  ['fimRep', 'tokenizer.ggml.fim_rep_token_id'],
  ['fimSep', 'tokenizer.ggml.fim_sep_token_id'],
  // deprecated spellings of the FIM ids
  ['fimPre', 'tokenizer.ggml.prefix_token_id'],
  ['fimSuf', 'tokenizer.ggml.suffix_token_id'],
  ['fimMid', 'tokenizer.ggml.middle_token_id'],
];

/** Far above any real vocabulary (the largest are ~262k) while keeping hostile files in check. */
export const MAX_VOCAB_TOKENS = 1 << 22;
const MAX_MERGES = 1 << 23;

export function readVocab(meta: MetadataSource): GGUFVocab {
  const warnings: string[] = [];
  const model = optString(meta, 'tokenizer.ggml.model');
  if (model === undefined) throw new ModelFormatError('GGUF metadata has no tokenizer.ggml.model: the file carries no tokenizer');

  const listed = stringArray(meta, 'tokenizer.ggml.tokens');
  if (!listed) throw new ModelFormatError('GGUF metadata has no tokenizer.ggml.tokens: the file carries no vocabulary');
  const n = listed.length;
  if (n === 0) throw new ModelFormatError('tokenizer.ggml.tokens is empty');
  if (n > MAX_VOCAB_TOKENS) throw new ModelFormatError(`tokenizer.ggml.tokens has ${n} entries, over the limit of ${MAX_VOCAB_TOKENS}`);
  const tokens = renameEmptyTokens(listed, warnings);

  const scores = numberArray(meta, 'tokenizer.ggml.scores', n, 'float');
  const types = numberArray(meta, 'tokenizer.ggml.token_type', n, 'int');
  // the header's own array when it has one (read only here): a copy would be 4 bytes a token of garbage
  const tokenTypes = (types as Int32Array | undefined) ?? new Int32Array(n).fill(TokenType.Normal);

  const merges = stringArray(meta, 'tokenizer.ggml.merges');
  if (merges && merges.length > MAX_MERGES) {
    throw new ModelFormatError(`tokenizer.ggml.merges has ${merges.length} entries, over the limit of ${MAX_MERGES}`);
  }

  const ids: Partial<Record<SpecialIdName, number>> = {};
  for (const [name, key] of SPECIAL_ID_KEYS) {
    const v = optInteger(meta, key);
    if (v === undefined) continue;
    if (v < 0 || v >= n) {
      // llama.cpp: "bad special token ... using default id" (4294967295 commonly means "none")
      if (v !== 0xffffffff && v !== -1) warnings.push(`${key} = ${v} is outside the vocabulary (${n} tokens); ignored`);
      continue;
    }
    ids[name] = v;
  }

  return {
    model,
    pre: optString(meta, 'tokenizer.ggml.pre') ?? null,
    tokens,
    scores: scores ? Float32Array.from(scores.subarray(0, n)) : null,
    tokenTypes,
    merges: merges ?? null,
    ids,
    addBos: optBool(meta, 'tokenizer.ggml.add_bos_token'),
    addEos: optBool(meta, 'tokenizer.ggml.add_eos_token'),
    addSep: optBool(meta, 'tokenizer.ggml.add_sep_token'),
    addSpacePrefix: optBool(meta, 'tokenizer.ggml.add_space_prefix'),
    chatTemplate: optString(meta, 'tokenizer.chat_template') ?? null,
    modelName: optString(meta, 'general.name') ?? null,
    warnings,
  };
}

// ---- typed getters over an untyped metadata source ----

function optString(meta: MetadataSource, key: string): string | undefined {
  const v = unwrap(meta.get(key));
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ModelFormatError(`${key} should be a string, got ${describe(v)}`);
  return v;
}

function optBool(meta: MetadataSource, key: string): boolean | null {
  const v = unwrap(meta.get(key));
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && (v === 0 || v === 1)) return v === 1;
  throw new ModelFormatError(`${key} should be a bool, got ${describe(v)}`);
}

function optInteger(meta: MetadataSource, key: string): number | undefined {
  const v = unwrap(meta.get(key));
  if (v === undefined || v === null) return undefined;
  const num = typeof v === 'bigint' ? Number(v) : v;
  if (typeof num !== 'number' || !Number.isInteger(num)) throw new ModelFormatError(`${key} should be an integer, got ${describe(v)}`);
  return num;
}

/**
 * A string array, packed: the reader's packed strings as they are (no string is made), a plain
 * array after its items are checked. Unpaired surrogates in a plain array become U+FFFD (the wasm
 * side gets strings as UTF-8 and would abort on them).
 */
function stringArray(meta: MetadataSource, key: string): PackedStrings | undefined {
  const raw = meta.get(key);
  const packed = raw instanceof GGUFArray ? raw.packedStrings : undefined;
  if (packed) return packed;
  const v = unwrap(raw);
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new ModelFormatError(`${key} should be an array of strings, got ${describe(v)}`);
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'string') throw new ModelFormatError(`${key}[${i}] should be a string, got ${describe(v[i])}`);
  }
  return PackedStrings.fromStrings(v as string[]);
}

/**
 * llama.cpp renames an empty token `[EMPTY_<id>]` so it stays addressable and distinct. A new
 * packed list when there is one (the reader's is left as it is), else the same one.
 */
function renameEmptyTokens(tokens: PackedStrings, warnings: string[]): PackedStrings {
  const { offsets } = tokens;
  let first = -1;
  for (let i = 0; i < tokens.length && first < 0; i++) if (offsets[i + 1] === offsets[i]) first = i;
  if (first < 0) return tokens;
  const renamed = new PackedStringsBuilder();
  for (let i = 0; i < tokens.length; i++) {
    if (i >= first && offsets[i + 1] === offsets[i]) {
      renamed.push(utf8.encode(`[EMPTY_${i}]`));
      warnings.push(`empty token at index ${i}`);
    } else {
      renamed.push(tokens.bytesOf(i));
    }
  }
  return renamed.finish();
}

const utf8 = new TextEncoder();

function numberArray(
  meta: MetadataSource,
  key: string,
  minLength: number,
  kind: 'float' | 'int',
): Float64Array | Float32Array | Int32Array | undefined {
  const v = unwrap(meta.get(key));
  if (v === undefined || v === null) return undefined;
  let arr: Float64Array | Float32Array | Int32Array;
  if (v instanceof Float32Array || v instanceof Int32Array || v instanceof Float64Array) arr = v;
  else if (ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array)) {
    arr = Float64Array.from(v as unknown as ArrayLike<number>);
  } else if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (typeof v[i] !== 'number') throw new ModelFormatError(`${key}[${i}] should be a number, got ${describe(v[i])}`);
    }
    arr = Float64Array.from(v as number[]);
  } else {
    throw new ModelFormatError(`${key} should be an array of numbers, got ${describe(v)}`);
  }
  if (arr.length < minLength) {
    throw new ModelFormatError(`${key} has ${arr.length} entries but tokenizer.ggml.tokens has ${minLength}`);
  }
  if (kind === 'int') {
    if (arr instanceof Int32Array) return arr.subarray(0, minLength); // integers already: no copy to leave behind
    const out = new Int32Array(minLength);
    for (let i = 0; i < minLength; i++) {
      const x = arr[i]!;
      if (!Number.isInteger(x)) throw new ModelFormatError(`${key}[${i}] should be an integer, got ${x}`);
      out[i] = x;
    }
    return out;
  }
  return arr;
}

/** GGUF arrays come as GGUFArray (declared item type + compact items); plain arrays work too. */
function unwrap(v: unknown): unknown {
  return v instanceof GGUFArray ? v.items : v;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : `${typeof v} ${String(v).slice(0, 40)}`;
}
