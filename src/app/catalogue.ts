/**
 * Models the demo offers. The first is bundled with the app (served by our own origin, so the demo
 * works without the internet); the others are real GGUF files on Hugging Face, with the sizes their
 * publishers list ("approximate" where only a rounded or second-hand figure is known).
 */
export interface CatalogueEntry {
  /** Stable key for the picker and for remembering the last choice. */
  key: string;
  label: string;
  /** Absolute https URL, or a path on this origin for the bundled model. */
  url: string;
  bytes: number;
  approximate?: boolean;
  architecture: string;
  quantization: string;
  licence: string;
  /** Has a chat template (instruct model); false: a story/base model that continues text. */
  chat: boolean;
  bundled?: boolean;
  /**
   * The whole file's sha256 (lower-case hex), where it is known: the download hashes what it
   * stored and refuses another file (IntegrityError) before the model is listed as ready.
   */
  sha256?: string;
}

const hf = (repo: string, file: string) => `https://huggingface.co/${repo}/resolve/main/${file}`;

export const BUNDLED_MODEL_PATH = 'models/tinystories-llama-3M-Q4_K_M.gguf';

export const CATALOGUE: readonly CatalogueEntry[] = [
  {
    key: 'tinystories-3m',
    label: 'TinyStories 3M (bundled, stories)',
    url: BUNDLED_MODEL_PATH,
    bytes: 2_092_000,
    sha256: 'fada9954b5da3766a9628160f93de0f71c9a1f053060f43a8ceb2bd9b9be83e2',
    architecture: 'llama',
    quantization: 'Q4_K_M',
    licence: 'Apache-2.0 / MIT',
    chat: false,
    bundled: true,
  },
  {
    key: 'smollm2-135m-q4km',
    label: 'SmolLM2 135M Instruct',
    url: hf('bartowski/SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct-Q4_K_M.gguf'),
    bytes: 105_454_432,
    architecture: 'llama',
    quantization: 'Q4_K_M',
    licence: 'Apache-2.0',
    chat: true,
  },
  {
    key: 'smollm2-135m-q8',
    label: 'SmolLM2 135M Instruct',
    url: hf('HuggingFaceTB/SmolLM2-135M-Instruct-GGUF', 'smollm2-135m-instruct-q8_0.gguf'),
    bytes: 145_000_000,
    approximate: true,
    architecture: 'llama',
    quantization: 'Q8_0',
    licence: 'Apache-2.0',
    chat: true,
  },
  {
    // An importance-quantized file: IQ4_XS blocks, IQ4_NL where a row (576) is not a multiple of 256.
    key: 'smollm2-135m-iq4xs',
    label: 'SmolLM2 135M Instruct',
    url: hf('bartowski/SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct-IQ4_XS.gguf'),
    bytes: 90_897_760,
    approximate: true,
    architecture: 'llama',
    quantization: 'IQ4_XS',
    licence: 'Apache-2.0',
    chat: true,
  },
  {
    key: 'smollm2-360m-q4km',
    label: 'SmolLM2 360M Instruct',
    url: hf('bartowski/SmolLM2-360M-Instruct-GGUF', 'SmolLM2-360M-Instruct-Q4_K_M.gguf'),
    bytes: 270_590_880,
    architecture: 'llama',
    quantization: 'Q4_K_M',
    licence: 'Apache-2.0',
    chat: true,
  },
  {
    key: 'qwen2.5-0.5b-q4km',
    label: 'Qwen2.5 0.5B Instruct',
    url: hf('Qwen/Qwen2.5-0.5B-Instruct-GGUF', 'qwen2.5-0.5b-instruct-q4_k_m.gguf'),
    bytes: 491_400_032,
    architecture: 'qwen2',
    quantization: 'Q4_K_M',
    licence: 'Apache-2.0',
    chat: true,
  },
  {
    key: 'qwen2.5-0.5b-q8',
    label: 'Qwen2.5 0.5B Instruct',
    url: hf('Qwen/Qwen2.5-0.5B-Instruct-GGUF', 'qwen2.5-0.5b-instruct-q8_0.gguf'),
    bytes: 675_710_816,
    architecture: 'qwen2',
    quantization: 'Q8_0',
    licence: 'Apache-2.0',
    chat: true,
  },
  {
    key: 'qwen3-0.6b-q4km',
    label: 'Qwen3 0.6B',
    url: hf('unsloth/Qwen3-0.6B-GGUF', 'Qwen3-0.6B-Q4_K_M.gguf'),
    bytes: 396_705_472,
    architecture: 'qwen3',
    quantization: 'Q4_K_M',
    licence: 'Apache-2.0',
    chat: true,
  },
  {
    key: 'qwen3-0.6b-q8',
    label: 'Qwen3 0.6B',
    url: hf('Qwen/Qwen3-0.6B-GGUF', 'Qwen3-0.6B-Q8_0.gguf'),
    bytes: 639_446_688,
    architecture: 'qwen3',
    quantization: 'Q8_0',
    licence: 'Apache-2.0',
    chat: true,
  },
  {
    key: 'llama3.2-1b-q4km',
    label: 'Llama 3.2 1B Instruct',
    url: hf('hugging-quants/Llama-3.2-1B-Instruct-Q4_K_M-GGUF', 'llama-3.2-1b-instruct-q4_k_m.gguf'),
    bytes: 807_690_656,
    architecture: 'llama',
    quantization: 'Q4_K_M',
    licence: 'Llama 3.2 Community',
    chat: true,
  },
  {
    key: 'tinyllama-1.1b-q4km',
    label: 'TinyLlama 1.1B Chat v1.0',
    url: hf('TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF', 'tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf'),
    bytes: 668_788_096,
    architecture: 'llama',
    quantization: 'Q4_K_M',
    licence: 'Apache-2.0',
    chat: true,
  },
  {
    key: 'bitnet-2b4t-i2s',
    label: 'BitNet b1.58 2B4T (official)',
    url: hf('microsoft/bitnet-b1.58-2B-4T-gguf', 'ggml-model-i2_s.gguf'),
    bytes: 1_187_801_280,
    architecture: 'bitnet-b1.58',
    quantization: 'I2_S (ternary)',
    licence: 'MIT',
    chat: true,
  },
  {
    key: 'bitnet-large-tq2',
    label: 'BitNet b1.58 large instruct',
    url: hf('imi2/oxenai_1bitLLM_bitnet_b1_58-large-instruct-v2-gguf', 'bitnet_b1_58-large-1bitLLM_bitnet_b1_58-instruct-v2-TQ2_0.gguf'),
    bytes: 275_000_000,
    approximate: true,
    architecture: 'bitnet',
    quantization: 'TQ2_0 (ternary)',
    licence: 'unknown',
    chat: true,
  },
  {
    key: 'bitnet-large-tq1',
    label: 'BitNet b1.58 large instruct',
    url: hf('imi2/oxenai_1bitLLM_bitnet_b1_58-large-instruct-v2-gguf', 'bitnet_b1_58-large-1bitLLM_bitnet_b1_58-instruct-v2-TQ1_0.gguf'),
    bytes: 243_000_000,
    approximate: true,
    architecture: 'bitnet',
    quantization: 'TQ1_0 (ternary)',
    licence: 'unknown',
    chat: true,
  },
  {
    key: 'llama3-8b-1.58-tq1',
    label: 'Llama3 8B 1.58-bit',
    url: hf('brunopio/Llama3-8B-1.58-100B-tokens-GGUF', 'Llama3-8B-1.58-100B-tokens-TQ1_0.gguf'),
    bytes: 2_210_000_000,
    approximate: true,
    architecture: 'llama',
    quantization: 'TQ1_0 (ternary)',
    licence: 'Llama 3',
    chat: false,
  },
];

/** The entry's URL made absolute against the page (the bundled model's path is relative). */
export function entryUrl(entry: CatalogueEntry, base: string): string {
  return new URL(entry.url, base).href;
}

export function findEntry(key: string): CatalogueEntry | undefined {
  return CATALOGUE.find((e) => e.key === key);
}
