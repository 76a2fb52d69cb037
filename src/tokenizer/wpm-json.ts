/**
 * GGUF "bert" (WordPiece) vocab → an in-memory Hugging Face tokenizer.json.
 *
 * llama.cpp's converter stores WordPiece vocabs with a "phantom space": word-initial pieces get a
 * "▁" prefix and "##" continuation pieces lose their prefix; [bracketed] specials stay as they are.
 * This inverts that so HF's WordPiece (BertNormalizer + BertPreTokenizer, longest match first)
 * tokenizes exactly like the model's own tokenizer.
 */
import { TokenizerError } from '../errors.ts';

export function buildWordPieceTokenizerJson(tokens: readonly string[], unkId: number | undefined, lowercase: boolean): Uint8Array {
  if (unkId === undefined) throw new TokenizerError('WordPiece vocabulary has no unknown token (tokenizer.ggml.unknown_token_id)');
  const hfTokens = tokens.map((t) => {
    if (t.startsWith('\u2581')) return t.slice(1);
    if (t.startsWith('[') && t.endsWith(']')) return t;
    return '##' + t;
  });
  const vocabParts = new Array<string>(hfTokens.length);
  for (let i = 0; i < hfTokens.length; i++) vocabParts[i] = JSON.stringify(hfTokens[i]) + ':' + i;
  const normalizer = { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: lowercase, lowercase };
  const text =
    `{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],` +
    `"normalizer":${JSON.stringify(normalizer)},"pre_tokenizer":{"type":"BertPreTokenizer"},"post_processor":null,"decoder":null,` +
    `"model":{"type":"WordPiece","unk_token":${JSON.stringify(hfTokens[unkId])},"continuing_subword_prefix":"##",` +
    `"max_input_chars_per_word":100,"vocab":{${vocabParts.join(',')}}}}`;
  return new TextEncoder().encode(text);
}
