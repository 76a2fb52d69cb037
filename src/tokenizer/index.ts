/** Tokenizer from GGUF metadata (wasm core from @mlc-ai/web-tokenizers) and chat templates. */
export { tokenizerFromGGUF, isLlama3Vocab } from './from-gguf.ts';
export { Tokenizer, type EncodeOptions, type DecodeOptions } from './tokenizer.ts';
export { StreamingDetokenizer, type DetokenizeOptions } from './detokenizer.ts';
export { readVocab, TokenType, type MetadataSource, type GGUFVocab } from './vocab.ts';
export { supportedPreTokenizers } from './pre-tokenizers.ts';
export {
  ChatTemplate,
  chatFormatterFor,
  CHATML_TEMPLATE,
  PLAIN_TEMPLATE,
  type ChatMessage,
  type ChatFormatOptions,
  type ChatTemplateOptions,
  type ChatFormatter,
  type ChatPrompt,
} from './chat-template.ts';
