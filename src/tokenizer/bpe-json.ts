/**
 * GGUF "gpt2" (byte-level BPE) vocab → an in-memory Hugging Face tokenizer.json for the wasm
 * tokenizers in @mlc-ai/web-tokenizers: the pre-tokenizer regexes split the text (Split,
 * isolated, in sequence, as llama.cpp's unicode_regex_split does), ByteLevel maps bytes to the
 * GPT-2 alphabet, and BPE merges by rank. No normalizer, no added tokens (special tokens are
 * split out before this runs), no post-processor: the JSON only tokenizes plain text.
 */
import { ModelFormatError } from '../errors.ts';
import type { PreTokenizerRule } from './pre-tokenizers.ts';

export interface BpeJsonResult {
  json: Uint8Array;
  /** Merges dropped because a side or the result is not in the vocab (never applicable). */
  droppedMerges: number;
}

export function buildBpeTokenizerJson(tokens: readonly string[], merges: readonly string[], rule: PreTokenizerRule): BpeJsonResult {
  const known = new Set(tokens);
  const seen = new Set<string>();
  const pairs: [string, string][] = [];
  let dropped = 0;
  for (let i = 0; i < merges.length; i++) {
    const m = merges[i]!;
    // llama.cpp splits at the first space after position 0
    const sp = m.indexOf(' ', 1);
    if (sp < 0) throw new ModelFormatError(`tokenizer.ggml.merges[${i}] = ${JSON.stringify(m.slice(0, 40))} has no space separating the pair`);
    const left = m.slice(0, sp);
    const right = m.slice(sp + 1);
    // HF's BPE refuses merges outside the vocab; llama.cpp can never apply them; a repeated
    // merge keeps its first (highest) rank in llama.cpp
    if (!known.has(left) || !known.has(right) || !known.has(left + right) || seen.has(m)) {
      dropped++;
      continue;
    }
    seen.add(m);
    pairs.push([left, right]);
  }

  // Built as text: one JSON.stringify per token is much cheaper than a 100k-key object.
  const vocabParts = new Array<string>(tokens.length);
  for (let i = 0; i < tokens.length; i++) vocabParts[i] = JSON.stringify(tokens[i]) + ':' + i;

  const preTokenizer = {
    type: 'Sequence',
    pretokenizers: [
      ...rule.regexes.map((r) => ({ type: 'Split', pattern: { Regex: r }, behavior: 'Isolated', invert: false })),
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ],
  };
  const model =
    `{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,` +
    `"fuse_unk":false,"byte_fallback":false,"ignore_merges":${rule.ignoreMerges ? 'true' : 'false'},` +
    `"vocab":{${vocabParts.join(',')}},"merges":${JSON.stringify(pairs)}}`;
  const text =
    `{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,` +
    `"pre_tokenizer":${JSON.stringify(preTokenizer)},"post_processor":null,"decoder":null,"model":${model}}`;
  return { json: new TextEncoder().encode(text), droppedMerges: dropped };
}
