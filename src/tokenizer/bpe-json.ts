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
import { TokenIndex } from './token-index.ts';

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
  const pairs = mergePairs(tokens, merges, tokenIndex);
  const nPairs = pairs.count;

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

  // Pass 1: the exact size. Vocab entries are `"tok":id`, merges `["a","b"]`, comma-separated.
  // Few tokens need an escape (a quote, a backslash, a control byte): only those keep their extra
  // bytes, in a map, rather than an array of every token's escaped length.
  const escapeExtra = new Map<number, number>();
  const escapedLen = (id: number) => to[id + 1]! - to[id]! + (escapeExtra.get(id) ?? 0);
  let size = head.length + middle.length + tail.length;
  for (let i = 0; i < n; i++) {
    const extra = escapedLength(tb, to[i]!, to[i + 1]!) - (to[i + 1]! - to[i]!);
    if (extra > 0) escapeExtra.set(i, extra);
    size += escapedLen(i) + 3 + decimalDigits(i) + (i > 0 ? 1 : 0);
  }
  for (let k = 0; k < nPairs; k++) size += escapedLen(pairs.left[k]!) + escapedLen(pairs.right[k]!) + 7 + (k > 0 ? 1 : 0);

  // Pass 2: write.
  const out = new Uint8Array(size);
  let o = 0;
  const put = (b: Uint8Array) => {
    out.set(b, o);
    o += b.length;
  };
  const putToken = (id: number) => {
    out[o++] = 0x22; // "
    const start = to[id]!;
    const end = to[id + 1]!;
    if (!escapeExtra.has(id)) {
      // a byte loop: tokens are a few bytes, and a view per token would be 450k objects of garbage
      for (let i = start; i < end; i++) out[o++] = tb[i]!;
    } else {
      for (let i = start; i < end; i++) {
        const e = ESCAPES[tb[i]!];
        if (e) put(e);
        else out[o++] = tb[i]!;
      }
    }
    out[o++] = 0x22;
  };
  put(head);
  for (let i = 0; i < n; i++) {
    if (i > 0) out[o++] = 0x2c; // ,
    putToken(i);
    out[o++] = 0x3a; // :
    const digits = decimalDigits(i);
    for (let k = digits - 1, v = i; k >= 0; k--, v = Math.floor(v / 10)) out[o + k] = 0x30 + (v % 10);
    o += digits;
  }
  put(middle);
  for (let k = 0; k < nPairs; k++) {
    if (k > 0) out[o++] = 0x2c;
    out[o++] = 0x5b; // [
    putToken(pairs.left[k]!);
    out[o++] = 0x2c;
    putToken(pairs.right[k]!);
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
 * The merges as (left id, right id) in rank order. HF's BPE loader aborts the whole wasm module on
 * a merge whose sides or result are not in the vocab; llama.cpp could never apply such a merge, so
 * dropping it keeps the same behaviour. A repeated pair keeps its first (best) rank, as in
 * llama.cpp.
 */
function mergePairs(
  tokens: PackedStrings,
  merges: PackedStrings,
  index: TokenIndex,
): { left: Int32Array; right: Int32Array; count: number; dropped: number } {
  const m = merges.length;
  const left = new Int32Array(m);
  const right = new Int32Array(m);
  // open-addressing set of the pairs kept so far (their index in left/right), at most 2/3 full
  let setSize = 16;
  while (setSize * 2 < m * 3) setSize *= 2;
  const set = new Int32Array(setSize).fill(-1);
  const mask = setSize - 1;
  const { bytes: mb, offsets: mo } = merges;
  let joined = new Uint8Array(64);
  let count = 0;
  let dropped = 0;
  for (let i = 0; i < m; i++) {
    const start = mo[i]!;
    const end = mo[i + 1]!;
    // llama.cpp splits at the first space after the first character (a continuation byte is never
    // a space, so the first byte after the start is as good)
    let sp = mb.indexOf(0x20, start + 1);
    if (sp >= end) sp = -1;
    if (sp < 0 || end === start) {
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
      if (left[k] === l && right[k] === r) {
        seen = true;
        break;
      }
      slot = (slot + 1) & mask;
    }
    if (seen) {
      dropped++;
      continue;
    }
    set[slot] = count;
    left[count] = l;
    right[count] = r;
    count++;
  }
  return { left, right, count, dropped };
}
