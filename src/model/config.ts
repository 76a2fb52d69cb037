/**
 * Hyper-parameters and architecture traits from GGUF metadata. Everything the forward pass needs
 * to know about a model's shape comes from here, never from constants in the runtime.
 */
import { ModelFormatError } from '../errors.ts';
import { GGUFArray } from '../gguf/values.ts';

/** The slice of a parsed GGUF file this module reads. */
export interface ModelMetadataSource {
  get(key: string): unknown;
}

export type RopeOrdering = 'normal' | 'neox';
export type FfnActivation = 'silu' | 'gelu' | 'relu2';

export interface ModelConfig {
  /** `general.architecture` as written in the file. */
  architecture: string;
  /** The forward-pass recipe to use. */
  family: 'llama' | 'qwen2' | 'qwen3' | 'bitnet' | 'bitnet-b1.58';
  name: string;
  nLayer: number;
  nEmbd: number;
  nFF: number;
  nHead: number;
  nHeadKV: number;
  /** Per-head dimension of Q/K (`attention.key_length`, else nEmbd / nHead). */
  headDim: number;
  /** Per-head dimension of V. */
  headDimV: number;
  ropeDim: number;
  ropeBase: number;
  /** Multiplies positions (1 / linear scaling factor). */
  ropeScale: number;
  ropeOrdering: RopeOrdering;
  rmsEps: number;
  contextLength: number;
  vocabSize: number;
  ffnActivation: FfnActivation;
  /** q/k/v projections have biases (qwen2). */
  qkvBias: boolean;
  /** Per-head RMSNorm of q and k before RoPE (qwen3). */
  qkNorm: boolean;
  /** attn_sub_norm before the output projection and ffn_sub_norm before ffn_down (BitNet). */
  subNorms: boolean;
}

const FAMILY: Record<string, ModelConfig['family']> = {
  llama: 'llama',
  mistral: 'llama',
  qwen2: 'qwen2',
  qwen3: 'qwen3',
  bitnet: 'bitnet',
  'bitnet-b1.58': 'bitnet-b1.58',
  'bitnet-25': 'bitnet-b1.58',
};

// llama.cpp's rope type per architecture: llama uses adjacent pairs, the others NeoX halves.
const ROPE: Record<ModelConfig['family'], RopeOrdering> = {
  llama: 'normal',
  qwen2: 'neox',
  qwen3: 'neox',
  bitnet: 'neox',
  'bitnet-b1.58': 'neox',
};

export const SUPPORTED_ARCHITECTURES = Object.keys(FAMILY);

/** The block family an architecture name runs as; undefined for names lowbit does not run. */
export function architectureFamily(architecture: string): ModelConfig['family'] | undefined {
  // An own-key lookup: the name comes from the file, and 'constructor' or '__proto__' must not
  // find Object.prototype's members.
  return Object.hasOwn(FAMILY, architecture) ? FAMILY[architecture] : undefined;
}

function num(meta: ModelMetadataSource, key: string): number | undefined {
  const v = meta.get(key);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  // Some converters write per-layer arrays (e.g. head_count_kv); a uniform array is fine.
  if (v instanceof GGUFArray) {
    const arr = Array.from(v.items as ArrayLike<number | bigint>, Number);
    if (arr.length > 0 && arr.every((x) => x === arr[0])) return arr[0];
    throw new ModelFormatError(`${key} varies per layer (${arr.slice(0, 8).join(', ')}…); lowbit needs it uniform`);
  }
  throw new ModelFormatError(`${key} should be a number, found ${typeof v}`);
}

function required(meta: ModelMetadataSource, key: string): number {
  const v = num(meta, key);
  if (v === undefined) throw new ModelFormatError(`missing metadata key ${key}`);
  if (!Number.isFinite(v) || v <= 0) throw new ModelFormatError(`metadata ${key} = ${v} is not a positive number`);
  return v;
}

function positiveInt(key: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new ModelFormatError(`metadata ${key} = ${v} is not a positive integer`);
  return v;
}

/**
 * @param tokenEmbdRows rows of token_embd.weight (ne[1]); the vocab size when metadata omits it.
 */
export function modelConfigFromMetadata(meta: ModelMetadataSource, tokenEmbdRows?: number): ModelConfig {
  const architecture = meta.get('general.architecture');
  if (typeof architecture !== 'string') throw new ModelFormatError('missing metadata key general.architecture');
  const family = architectureFamily(architecture);
  if (!family) {
    throw new ModelFormatError(`unsupported architecture '${architecture}' (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  const a = architecture;
  const nEmbd = positiveInt(`${a}.embedding_length`, required(meta, `${a}.embedding_length`));
  const nHead = positiveInt(`${a}.attention.head_count`, required(meta, `${a}.attention.head_count`));
  const nHeadKV = positiveInt(`${a}.attention.head_count_kv`, num(meta, `${a}.attention.head_count_kv`) ?? nHead);
  if (nHead % nHeadKV !== 0) {
    throw new ModelFormatError(`${a}.attention.head_count ${nHead} is not a multiple of ${a}.attention.head_count_kv ${nHeadKV}`);
  }
  const keyLength = num(meta, `${a}.attention.key_length`);
  if (keyLength === undefined && nEmbd % nHead !== 0) {
    throw new ModelFormatError(
      `${a}.embedding_length ${nEmbd} is not a multiple of ${a}.attention.head_count ${nHead}, and no ${a}.attention.key_length gives the head size`,
    );
  }
  const headDim = positiveInt(`${a}.attention.key_length`, keyLength ?? nEmbd / nHead);
  const headDimV = positiveInt(`${a}.attention.value_length`, num(meta, `${a}.attention.value_length`) ?? headDim);
  if (headDimV !== headDim) {
    throw new ModelFormatError(
      `attention.value_length ${headDimV} differs from key_length ${headDim}; lowbit's attention kernels need them equal`,
    );
  }
  const ropeDim = positiveInt(`${a}.rope.dimension_count`, num(meta, `${a}.rope.dimension_count`) ?? headDim);
  if (ropeDim > headDim || ropeDim % 2 !== 0)
    throw new ModelFormatError(`rope.dimension_count ${ropeDim} does not fit head dim ${headDim}`);
  const scalingType = meta.get(`${a}.rope.scaling.type`);
  const scalingFactor = num(meta, `${a}.rope.scaling.factor`);
  let ropeScale = 1;
  if (scalingType === 'linear' && scalingFactor && scalingFactor > 0) ropeScale = 1 / scalingFactor;
  else if (scalingType !== undefined && scalingType !== 'none' && scalingType !== 'linear') {
    throw new ModelFormatError(`rope scaling '${String(scalingType)}' is not supported yet`);
  }
  const vocabFromTokens = (() => {
    const t = meta.get('tokenizer.ggml.tokens');
    return t instanceof GGUFArray ? t.length : undefined;
  })();
  const vocabFromKey = num(meta, `${a}.vocab_size`);
  // llama.cpp sizes token_embd and the LM head by the tokenizer's token count, so all three agree.
  if (vocabFromKey !== undefined && vocabFromTokens !== undefined && vocabFromKey !== vocabFromTokens) {
    throw new ModelFormatError(`${a}.vocab_size is ${vocabFromKey} but tokenizer.ggml.tokens has ${vocabFromTokens} tokens`);
  }
  if (vocabFromTokens !== undefined && tokenEmbdRows !== undefined && vocabFromTokens !== tokenEmbdRows) {
    throw new ModelFormatError(
      `tokenizer.ggml.tokens has ${vocabFromTokens} tokens but token_embd.weight has ${tokenEmbdRows} rows (one per token)`,
    );
  }
  const vocabSize = vocabFromKey ?? vocabFromTokens ?? tokenEmbdRows;
  if (!vocabSize) throw new ModelFormatError('cannot tell the vocabulary size (no vocab_size, tokens or token_embd)');
  return {
    architecture,
    family,
    name: typeof meta.get('general.name') === 'string' ? (meta.get('general.name') as string) : architecture,
    nLayer: positiveInt(`${a}.block_count`, required(meta, `${a}.block_count`)),
    nEmbd,
    nFF: positiveInt(`${a}.feed_forward_length`, required(meta, `${a}.feed_forward_length`)),
    nHead,
    nHeadKV,
    headDim,
    headDimV,
    ropeDim,
    ropeBase: num(meta, `${a}.rope.freq_base`) ?? 10000,
    ropeScale,
    ropeOrdering: ROPE[family],
    rmsEps: num(meta, `${a}.attention.layer_norm_rms_epsilon`) ?? 1e-5,
    contextLength: positiveInt(`${a}.context_length`, num(meta, `${a}.context_length`) ?? 2048),
    vocabSize: positiveInt('vocab size', vocabSize),
    ffnActivation: family === 'bitnet-b1.58' ? 'relu2' : 'silu',
    qkvBias: family === 'qwen2',
    qkNorm: family === 'qwen3',
    subNorms: family === 'bitnet' || family === 'bitnet-b1.58',
  };
}
