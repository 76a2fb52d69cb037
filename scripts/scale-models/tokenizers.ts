/**
 * Tokenizer metadata of each scale-model family: every `tokenizer.*` key, chat template included.
 * The contract (family + vocabulary size in, metadata map out) is shared with the tokenizer work;
 * this is the minimal version the generator needs: Llama-3's and Qwen's real vocabularies from the
 * dev dependencies the tokenizer tests already use, and for SmolLM2 a GPT-2-style byte-level BPE of
 * the right size cut from the Llama-3 one.
 */
import { llama3Metadata, qwen3Metadata } from '../../test/tokenizer/helpers.ts';

export type ScaleFamily = 'smollm2' | 'qwen2' | 'qwen3' | 'llama3' | 'bitnet';

/** ChatML, as SmolLM2 and Qwen2.5 format a conversation (no default system prompt here). */
const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const LLAMA3 =
  "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

const SMOLLM2_SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

function tokenizerKeys(meta: Map<string, unknown>): Map<string, unknown> {
  return new Map([...meta].filter(([k]) => k.startsWith('tokenizer.')));
}

export async function tokenizerMetadata(family: ScaleFamily, vocabSize: number): Promise<Map<string, unknown>> {
  if (family === 'qwen2' || family === 'qwen3') {
    const meta = tokenizerKeys(qwen3Metadata(vocabSize).meta);
    if (family === 'qwen2') meta.set('tokenizer.chat_template', CHATML);
    return meta;
  }
  const llama = await llama3Metadata();
  if (family === 'llama3' || family === 'bitnet') {
    const meta = tokenizerKeys(llama);
    meta.set('tokenizer.ggml.pre', 'llama-bpe');
    meta.set('tokenizer.chat_template', LLAMA3);
    meta.set('tokenizer.ggml.eos_token_id', 128009);
    return meta;
  }
  // SmolLM2: its specials first, then the first Llama-3 tokens (byte-level BPE in merge order) and
  // only the merges whose parts and result all survive the cut.
  const allTokens = llama.get('tokenizer.ggml.tokens') as string[];
  const kept = allTokens.slice(0, vocabSize - SMOLLM2_SPECIAL.length);
  const keptSet = new Set(kept);
  const merges = (llama.get('tokenizer.ggml.merges') as string[]).filter((m) => {
    const [a, b] = m.split(' ');
    return keptSet.has(a!) && keptSet.has(b!) && keptSet.has(a! + b!);
  });
  const tokens = [...SMOLLM2_SPECIAL, ...kept];
  const types = Int32Array.from(tokens, (_, i) => (i < SMOLLM2_SPECIAL.length ? 3 : 1));
  return new Map<string, unknown>([
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.pre', 'smollm'],
    ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.token_type', types],
    ['tokenizer.ggml.merges', merges],
    ['tokenizer.ggml.bos_token_id', 1],
    ['tokenizer.ggml.eos_token_id', 2],
    ['tokenizer.ggml.unknown_token_id', 0],
    ['tokenizer.ggml.padding_token_id', 2],
    ['tokenizer.ggml.add_bos_token', false],
    ['tokenizer.chat_template', CHATML],
  ]);
}
