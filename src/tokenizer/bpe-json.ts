/**
 * GGUF "gpt2" (byte-level BPE) vocab → an in-memory Hugging Face tokenizer.json for the wasm
 * tokenizers in @mlc-ai/web-tokenizers: the pre-tokenizer regexes split the text (Split,
 * isolated, in sequence, as llama.cpp's unicode_regex_split does), ByteLevel maps bytes to the
 * GPT-2 alphabet, and BPE merges by rank. No normalizer, no added tokens (special tokens are
 * split out before this runs), no post-processor: the JSON only tokenizes plain text.
 *
 * Written straight into UTF-8 bytes: each token is JSON-escaped and encoded once and then copied
 * into the vocab and into every merge that names it, so a 128k-token, 280k-merge vocab costs a
 * few hundred milliseconds rather than seconds of string concatenation.
 */
import { ModelFormatError } from '../errors.ts';
import type { PreTokenizerRule } from './pre-tokenizers.ts';

export interface BpeJsonResult {
  json: Uint8Array;
  /** Merges dropped because a side or the result is not in the vocab (never applicable). */
  droppedMerges: number;
}

const utf8 = new TextEncoder();

export function buildBpeTokenizerJson(
  tokens: readonly string[],
  merges: readonly string[],
  rule: PreTokenizerRule,
  tokenToId?: ReadonlyMap<string, number>,
): BpeJsonResult {
  const n = tokens.length;
  let ids = tokenToId;
  if (!ids) {
    const m = new Map<string, number>();
    for (let i = 0; i < n; i++) m.set(tokens[i]!, i);
    ids = m;
  }

  // Merge validation. HF's BPE loader aborts the whole wasm module on a merge whose sides or
  // result are not in the vocab; llama.cpp could never apply such a merge, so dropping it keeps
  // the same behaviour. A repeated pair keeps its first (best) rank, as in llama.cpp.
  const pairs = new Int32Array(merges.length * 2);
  const seen = new Set<number>();
  let nPairs = 0;
  let dropped = 0;
  for (let i = 0; i < merges.length; i++) {
    const m = merges[i]!;
    // llama.cpp splits at the first space after position 0
    const sp = m.indexOf(' ', 1);
    if (sp < 0)
      throw new ModelFormatError(`tokenizer.ggml.merges[${i}] = ${JSON.stringify(m.slice(0, 40))} has no space separating the pair`);
    const left = m.slice(0, sp);
    const right = m.slice(sp + 1);
    const l = ids.get(left);
    const r = ids.get(right);
    if (l === undefined || r === undefined || !ids.has(left + right)) {
      dropped++;
      continue;
    }
    const key = l * n + r;
    if (seen.has(key)) {
      dropped++;
      continue;
    }
    seen.add(key);
    pairs[nPairs * 2] = l;
    pairs[nPairs * 2 + 1] = r;
    nPairs++;
  }

  // Each token as JSON string bytes, made once: one UTF-8 encode of all the escaped tokens joined
  // by "\n" (JSON escapes every newline inside a string, so a raw 0x0A only ever separates them).
  const joined = new Array<string>(n);
  for (let i = 0; i < n; i++) joined[i] = JSON.stringify(tokens[i]);
  const escAll = utf8.encode(joined.join('\n'));
  const esc = new Array<Uint8Array>(n);
  for (let i = 0, start = 0; i < n; i++) {
    let end = escAll.indexOf(0x0a, start);
    if (end < 0) end = escAll.length;
    esc[i] = escAll.subarray(start, end);
    start = end + 1;
  }
  const escTotal = escAll.length;

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

  // upper bound: vocab entries `"tok":id,` (id ≤ 7 digits) and merges `["a","b"],`
  let mergeBytes = 0;
  for (let k = 0; k < nPairs; k++) mergeBytes += esc[pairs[2 * k]!]!.length + esc[pairs[2 * k + 1]!]!.length + 4;
  const out = new Uint8Array(head.length + escTotal + n * 9 + mergeBytes + 64);
  let o = 0;
  const put = (b: Uint8Array) => {
    out.set(b, o);
    o += b.length;
  };
  const putAscii = (s: string) => {
    for (let k = 0; k < s.length; k++) out[o++] = s.charCodeAt(k);
  };
  put(head);
  for (let i = 0; i < n; i++) {
    if (i > 0) out[o++] = 0x2c; // ,
    put(esc[i]!);
    out[o++] = 0x3a; // :
    putAscii(String(i));
  }
  putAscii('},"merges":[');
  for (let k = 0; k < nPairs; k++) {
    if (k > 0) out[o++] = 0x2c;
    out[o++] = 0x5b; // [
    put(esc[pairs[2 * k]!]!);
    out[o++] = 0x2c;
    put(esc[pairs[2 * k + 1]!]!);
    out[o++] = 0x5d; // ]
  }
  putAscii(']}}');
  return { json: out.subarray(0, o), droppedMerges: dropped };
}
