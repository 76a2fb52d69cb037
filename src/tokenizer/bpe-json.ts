/**
 * GGUF "gpt2" (byte-level BPE) vocab → an in-memory Hugging Face tokenizer.json for the wasm
 * tokenizers in @mlc-ai/web-tokenizers: the pre-tokenizer regexes split the text (Split,
 * isolated, in sequence, as llama.cpp's unicode_regex_split does), ByteLevel maps bytes to the
 * GPT-2 alphabet, and BPE merges by rank. No normalizer, no added tokens (special tokens are
 * split out before this runs), no post-processor: the JSON only tokenizes plain text.
 *
 * Written straight from the vocabulary's packed UTF-8 bytes into one buffer of the exact size, in
 * two passes (measure, then write): no JS string and no object per token or merge is made, so a
 * 150k-token, 150k-merge vocabulary costs the JSON's own ~5 MiB plus a few typed arrays, and the
 * buffer goes to the wasm side as it is.
 */
import type { PackedStrings } from '../gguf/packed-strings.ts';
import { ModelFormatError } from '../errors.ts';
import type { PreTokenizerRule } from './pre-tokenizers.ts';
import { sameBytes, TokenIndex } from './token-index.ts';

export interface BpeJsonResult {
  /** The tokenizer.json bytes: the whole of `json.buffer`. */
  json: Uint8Array;
  /** Merges dropped because a side or the result is not in the vocab (never applicable). */
  droppedMerges: number;
}

const utf8 = new TextEncoder();

/** JSON.stringify's escape of each byte inside a string: undefined for a byte that stands as it is. */
const ESCAPES: (Uint8Array | undefined)[] = (() => {
  const out = new Array<Uint8Array | undefined>(256);
  for (let b = 0; b < 0x20; b++) out[b] = utf8.encode(JSON.stringify(String.fromCharCode(b)).slice(1, -1));
  out[0x22] = utf8.encode('\\"');
  out[0x5c] = utf8.encode('\\\\');
  return out;
})();

/** Bytes of bytes[start, end) as the inside of a JSON string. */
function escapedLength(bytes: Uint8Array, start: number, end: number): number {
  let len = end - start;
  for (let i = start; i < end; i++) {
    const e = ESCAPES[bytes[i]!];
    if (e) len += e.length - 1;
  }
  return len;
}

export function buildBpeTokenizerJson(
  tokens: PackedStrings,
  merges: PackedStrings,
  rule: PreTokenizerRule,
  tokenIndex: TokenIndex = new TokenIndex(tokens),
): BpeJsonResult {
  const n = tokens.length;
  const { bytes: tb, offsets: to } = tokens;
  const { bytes: mb, offsets: mo } = merges;
  const pairs = mergePairs(tokens, merges, tokenIndex);

  const preTokenizer = {
    type: 'Sequence',
    pretokenizers: [
      ...rule.regexes.map((r) => ({ type: 'Split', pattern: { Regex: r }, behavior: 'Isolated', invert: false })),
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ],
  };
  const head = utf8.encode(
    `{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,` +
      `"pre_tokenizer":${JSON.stringify(preTokenizer)},"post_processor":null,"decoder":null,` +
      `"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,` +
      `"fuse_unk":false,"byte_fallback":false,"ignore_merges":${rule.ignoreMerges ? 'true' : 'false'},"vocab":{`,
  );
  const middle = utf8.encode('},"merges":[');
  const tail = utf8.encode(']}}');

  // Pass 1: the exact size. Vocab entries are `"tok":id`, merges `["a","b"]`, comma-separated. A
  // merge's sides are written from its own bytes, which are its tokens' bytes.
  let size = head.length + middle.length + tail.length;
  for (let i = 0; i < n; i++) size += escapedLength(tb, to[i]!, to[i + 1]!) + 3 + decimalDigits(i) + (i > 0 ? 1 : 0);
  for (let k = 0, written = 0; k < merges.length; k++) {
    if (!pairs.kept[k]) continue;
    const sp = mergeSplit(mb, mo[k]!);
    size += escapedLength(mb, mo[k]!, sp) + escapedLength(mb, sp + 1, mo[k + 1]!) + 7 + (written++ > 0 ? 1 : 0);
  }

  // Pass 2: write.
  const out = new Uint8Array(size);
  let o = 0;
  const put = (b: Uint8Array) => {
    out.set(b, o);
    o += b.length;
  };
  /** bytes[start, end) as a JSON string, byte by byte: a view per token would be 450k objects of garbage. */
  const putString = (bytes: Uint8Array, start: number, end: number) => {
    out[o++] = 0x22; // "
    for (let i = start; i < end; i++) {
      const e = ESCAPES[bytes[i]!];
      if (e) put(e);
      else out[o++] = bytes[i]!;
    }
    out[o++] = 0x22;
  };
  put(head);
  for (let i = 0; i < n; i++) {
    if (i > 0) out[o++] = 0x2c; // ,
    putString(tb, to[i]!, to[i + 1]!);
    out[o++] = 0x3a; // :
    const digits = decimalDigits(i);
    for (let k = digits - 1, v = i; k >= 0; k--, v = Math.floor(v / 10)) out[o + k] = 0x30 + (v % 10);
    o += digits;
  }
  put(middle);
  for (let k = 0, written = 0; k < merges.length; k++) {
    if (!pairs.kept[k]) continue;
    if (written++ > 0) out[o++] = 0x2c;
    const sp = mergeSplit(mb, mo[k]!);
    out[o++] = 0x5b; // [
    putString(mb, mo[k]!, sp);
    out[o++] = 0x2c;
    putString(mb, sp + 1, mo[k + 1]!);
    out[o++] = 0x5d; // ]
  }
  put(tail);
  if (o !== size) throw new Error(`tokenizer.json size ${o} differs from the ${size} bytes measured`);
  return { json: out, droppedMerges: pairs.dropped };
}

/** Digits of a non-negative integer in decimal (as `String(n).length`, without making the string). */
function decimalDigits(n: number): number {
  let digits = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    digits++;
  }
  return digits;
}

/**
 * llama.cpp splits a merge at the first space after its first character (a continuation byte is
 * never a space, so the first byte after the start is as good); -1 when there is none before `end`.
 */
function mergeSplit(bytes: Uint8Array, start: number, end = bytes.length): number {
  const sp = bytes.indexOf(0x20, start + 1);
  return sp < 0 || sp >= end ? -1 : sp;
}

/**
 * Which merges the tokenizer.json keeps, in rank order. HF's BPE loader aborts the whole wasm
 * module on a merge whose sides or result are not in the vocab; llama.cpp could never apply such a
 * merge, so dropping it keeps the same behaviour. A repeated pair keeps its first (best) rank, as
 * in llama.cpp. Two merges are the same pair exactly when their bytes are equal (a side's id is a
 * function of its bytes), so a kept merge is known by its index alone.
 */
function mergePairs(tokens: PackedStrings, merges: PackedStrings, index: TokenIndex): { kept: Uint8Array; dropped: number } {
  const m = merges.length;
  const kept = new Uint8Array(m);
  // open-addressing set of the kept merges (their index), at most 2/3 full
  let setSize = 16;
  while (setSize * 2 < m * 3) setSize *= 2;
  const set = new Int32Array(setSize).fill(-1);
  const mask = setSize - 1;
  const { bytes: mb, offsets: mo } = merges;
  let joined = new Uint8Array(64);
  let dropped = 0;
  for (let i = 0; i < m; i++) {
    const start = mo[i]!;
    const end = mo[i + 1]!;
    const sp = end === start ? -1 : mergeSplit(mb, start, end);
    if (sp < 0) {
      throw new ModelFormatError(
        `tokenizer.ggml.merges[${i}] = ${JSON.stringify(merges.get(i).slice(0, 40))} has no space separating the pair`,
      );
    }
    const l = index.idOfBytes(mb, start, sp);
    const r = index.idOfBytes(mb, sp + 1, end);
    if (l === undefined || r === undefined) {
      dropped++;
      continue;
    }
    const joinedLength = end - start - 1;
    if (joined.length < joinedLength) joined = new Uint8Array(joinedLength * 2);
    // byte loops rather than two views per merge (300k objects of garbage)
    let j = 0;
    for (let b = start; b < sp; b++) joined[j++] = mb[b]!;
    for (let b = sp + 1; b < end; b++) joined[j++] = mb[b]!;
    if (index.idOfBytes(joined, 0, joinedLength) === undefined) {
      dropped++;
      continue;
    }
    let h = Math.imul(l, 0x9e3779b1) ^ r;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    let slot = (h ^ (h >>> 13)) & mask;
    let seen = false;
    for (;;) {
      const k = set[slot]!;
      if (k < 0) break;
      if (sameBytes(mb, mo[k]!, mo[k + 1]!, mb, start, end)) {
        seen = true;
        break;
      }
      slot = (slot + 1) & mask;
    }
    if (seen) {
      dropped++;
      continue;
    }
    set[slot] = i;
    kept[i] = 1;
  }
  return { kept, dropped };
}
