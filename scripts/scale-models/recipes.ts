/**
 * Recipes of the scale models: random-weight stand-ins with the exact shapes, hyper-parameters,
 * tensor names and per-tensor type mixes of the published GGUFs in shared/CATALOGUE.md. Only the
 * trained values differ. Everything here is pure: the tensor list, how each tensor's values are
 * drawn, and the llama-quantize type plan (src/quant/mixture.ts) that the generator follows.
 */
import { createHash } from 'node:crypto';
import { fileTypeByName, llamaTensorOrder, planMixture, type PlannedType } from '../../src/quant/mixture.ts';
import { GGMLType } from '../../src/quant/types.ts';
import type { ScaleFamily } from './tokenizers.ts';

/** Bumped when the generator's values or layout change, so cached files are rebuilt. */
export const GENERATOR_VERSION = 2;

/** Llama-3's "llama3" RoPE scaling, which llama.cpp's converter turns into rope_freqs.weight. */
export interface Llama3RopeScaling {
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalContext: number;
}

export interface ScaleRecipe {
  /** File stem: `<model>-<type>`, e.g. smollm2-135m-Q4_K_M. */
  readonly name: string;
  /** What the file stands in for (general.name). */
  readonly model: string;
  readonly family: ScaleFamily;
  readonly arch: string;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nFF: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  /** Per-head width when it is not nEmbd / nHead (Qwen3: 128). */
  readonly headDim?: number;
  readonly vocab: number;
  readonly contextLength: number;
  readonly ropeBase: number;
  readonly rmsEps: number;
  /** A separate output.weight holding a copy of the embedding (Qwen2.5's published GGUF has one). */
  readonly outputCopy?: boolean;
  readonly ropeScaling?: Llama3RopeScaling;
  /** The llama-quantize type argument. */
  readonly fileType: string;
  readonly tokenEmbeddingType?: GGMLType;
  readonly seed: number;
  /** Size of the published file (CATALOGUE.md), for the size check. */
  readonly publishedBytes?: number;
}

const SMOLLM2_135M = {
  model: 'SmolLM2-135M-Instruct',
  family: 'smollm2',
  arch: 'llama',
  nLayer: 30,
  nEmbd: 576,
  nFF: 1536,
  nHead: 9,
  nHeadKv: 3,
  vocab: 49152,
  contextLength: 8192,
  ropeBase: 100000,
  rmsEps: 1e-5,
} as const;

const BITNET_2B4T = {
  model: 'BitNet b1.58 2B4T',
  family: 'bitnet',
  arch: 'bitnet-b1.58',
  nLayer: 30,
  nEmbd: 2560,
  nFF: 6912,
  nHead: 20,
  nHeadKv: 5,
  vocab: 128256,
  contextLength: 4096,
  ropeBase: 500000,
  rmsEps: 1e-5,
  // BitNet's tools write the embedding (the tied LM head) as F16; the TQ2_0 twin keeps it so, so
  // the two files hold the same values and must give the same logits.
  tokenEmbeddingType: GGMLType.F16,
  seed: 6,
} as const;

export const SCALE_RECIPES: readonly ScaleRecipe[] = [
  { ...SMOLLM2_135M, name: 'smollm2-135m-Q4_K_M', fileType: 'Q4_K_M', seed: 1, publishedBytes: 105_454_432 },
  { ...SMOLLM2_135M, name: 'smollm2-135m-Q8_0', fileType: 'Q8_0', seed: 1 },
  {
    ...SMOLLM2_135M,
    name: 'smollm2-360m-Q4_K_M',
    model: 'SmolLM2-360M-Instruct',
    nLayer: 32,
    nEmbd: 960,
    nFF: 2560,
    nHead: 15,
    nHeadKv: 5,
    fileType: 'Q4_K_M',
    seed: 2,
    publishedBytes: 270_590_880,
  },
  {
    name: 'qwen2.5-0.5b-Q4_K_M',
    model: 'Qwen2.5-0.5B-Instruct',
    family: 'qwen2',
    arch: 'qwen2',
    nLayer: 24,
    nEmbd: 896,
    nFF: 4864,
    nHead: 14,
    nHeadKv: 2,
    vocab: 151936,
    contextLength: 32768,
    ropeBase: 1_000_000,
    rmsEps: 1e-6,
    outputCopy: true,
    fileType: 'Q4_K_M',
    seed: 3,
    publishedBytes: 491_400_032,
  },
  {
    name: 'qwen3-0.6b-Q8_0',
    model: 'Qwen3-0.6B',
    family: 'qwen3',
    arch: 'qwen3',
    nLayer: 28,
    nEmbd: 1024,
    nFF: 3072,
    nHead: 16,
    nHeadKv: 8,
    headDim: 128,
    vocab: 151936,
    contextLength: 40960,
    ropeBase: 1_000_000,
    rmsEps: 1e-6,
    fileType: 'Q8_0',
    seed: 4,
    publishedBytes: 639_446_688,
  },
  {
    name: 'llama-3.2-1b-Q4_K_M',
    model: 'Llama-3.2-1B-Instruct',
    family: 'llama3',
    arch: 'llama',
    nLayer: 16,
    nEmbd: 2048,
    nFF: 8192,
    nHead: 32,
    nHeadKv: 8,
    vocab: 128256,
    contextLength: 131072,
    ropeBase: 500000,
    rmsEps: 1e-5,
    ropeScaling: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 },
    fileType: 'Q4_K_M',
    seed: 5,
    publishedBytes: 807_690_656,
  },
  { ...BITNET_2B4T, name: 'bitnet-2b4t-I2_S', fileType: 'I2_S', publishedBytes: 1_187_801_280 },
  { ...BITNET_2B4T, name: 'bitnet-2b4t-TQ2_0', fileType: 'TQ2_0' },
  // The 2B4T shape cut to its first 2 and 4 layers: the same widths, vocabulary, F16 tied embedding,
  // sub-norms and seed, so their tensors are the full shape's first ones. Their F32 twins (1.9 and
  // 2.4 GB, against 9.7 GB at 30 layers) separate lowbit's error from llama.cpp's 8-bit activations
  // at this width, and the two depths show how that rounding grows (test/scale/bitnet.test.ts).
  { ...BITNET_2B4T, name: 'bitnet-2b4t-2L-TQ2_0', model: 'BitNet b1.58 2B4T, first 2 layers', nLayer: 2, fileType: 'TQ2_0' },
  { ...BITNET_2B4T, name: 'bitnet-2b4t-4L-TQ2_0', model: 'BitNet b1.58 2B4T, first 4 layers', nLayer: 4, fileType: 'TQ2_0' },
];

export function recipeByName(name: string): ScaleRecipe | undefined {
  return SCALE_RECIPES.find((r) => r.name === name);
}

/** How a tensor's values are drawn. `stream` names the random stream (a tensor shares one to copy another). */
export type ValueInit =
  | { readonly kind: 'normal'; readonly std: number; readonly stream: string }
  | { readonly kind: 'ternary'; readonly std: number; readonly stream: string }
  | { readonly kind: 'norm'; readonly gain: number; readonly stream: string }
  | { readonly kind: 'fixed'; readonly values: Float32Array };

export interface RecipeTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly init: ValueInit;
}

/** Standard deviation of the logits before softmax: peaked enough that top-1 comparisons mean something. */
const LOGIT_STD = 4;
/**
 * Gain of q, k and gate. 1, not the synthetic test models' 2: over 30 random layers a gain of 2
 * makes the network chaotic, so llama.cpp's int8 activations alone flip the top token of the
 * SmolLM2-135M Q4_K_M shape (lowbit and llama.cpp then disagree from the first token although
 * both agree to 2e-3 on its F32 twin); at 1 they pick the same tokens with top-1 probabilities
 * within 0.03.
 */
const SHARPNESS = 1;

export function headDimOf(r: ScaleRecipe): number {
  return r.headDim ?? r.nEmbd / r.nHead;
}

/** rope_freqs.weight as llama.cpp's converter computes it from Llama-3's RoPE scaling (per-pair divisors). */
export function llama3RopeFreqs(r: ScaleRecipe, s: Llama3RopeScaling): Float32Array {
  const dim = headDimOf(r);
  const out = new Float32Array(dim / 2);
  const lowWavelen = s.originalContext / s.lowFreqFactor;
  const highWavelen = s.originalContext / s.highFreqFactor;
  for (let i = 0; i < dim / 2; i++) {
    const freq = 1 / r.ropeBase ** ((2 * i) / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (s.originalContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/** Every tensor of the recipe, in llama.cpp's file order. */
export function recipeTensors(r: ScaleRecipe): RecipeTensor[] {
  const hd = headDimOf(r);
  const qDim = r.nHead * hd;
  const kvDim = r.nHeadKv * hd;
  const ternary = r.arch.startsWith('bitnet');
  const t: RecipeTensor[] = [];
  const norm = (name: string, n: number, gain = 1) => t.push({ name, dims: [n], init: { kind: 'norm', gain, stream: name } });
  const matrix = (name: string, cols: number, rows: number, gain = 1) =>
    t.push({ name, dims: [cols, rows], init: { kind: ternary ? 'ternary' : 'normal', std: gain / Math.sqrt(cols), stream: name } });
  // Tied head (all of these models): the embedding's scale sets the logit scale.
  const embd: ValueInit = { kind: 'normal', std: LOGIT_STD / Math.sqrt(r.nEmbd), stream: 'token_embd.weight' };
  t.push({ name: 'token_embd.weight', dims: [r.nEmbd, r.vocab], init: embd });
  if (r.outputCopy) t.push({ name: 'output.weight', dims: [r.nEmbd, r.vocab], init: embd });
  norm('output_norm.weight', r.nEmbd);
  if (r.ropeScaling)
    t.push({ name: 'rope_freqs.weight', dims: [hd / 2], init: { kind: 'fixed', values: llama3RopeFreqs(r, r.ropeScaling) } });
  for (let l = 0; l < r.nLayer; l++) {
    const p = `blk.${l}.`;
    norm(`${p}attn_norm.weight`, r.nEmbd);
    matrix(`${p}attn_q.weight`, r.nEmbd, qDim, SHARPNESS);
    matrix(`${p}attn_k.weight`, r.nEmbd, kvDim, SHARPNESS);
    matrix(`${p}attn_v.weight`, r.nEmbd, kvDim);
    matrix(`${p}attn_output.weight`, qDim, r.nEmbd);
    if (r.arch === 'qwen2') {
      for (const [b, n] of [
        ['attn_q.bias', qDim],
        ['attn_k.bias', kvDim],
        ['attn_v.bias', kvDim],
      ] as const) {
        t.push({ name: `${p}${b}`, dims: [n], init: { kind: 'normal', std: 0.5, stream: `${p}${b}` } });
      }
    }
    if (r.arch === 'qwen3') {
      norm(`${p}attn_q_norm.weight`, hd, 2);
      norm(`${p}attn_k_norm.weight`, hd);
    }
    if (ternary) norm(`${p}attn_sub_norm.weight`, qDim);
    norm(`${p}ffn_norm.weight`, r.nEmbd);
    matrix(`${p}ffn_gate.weight`, r.nEmbd, r.nFF, SHARPNESS);
    matrix(`${p}ffn_up.weight`, r.nEmbd, r.nFF);
    matrix(`${p}ffn_down.weight`, r.nFF, r.nEmbd);
    if (ternary) norm(`${p}ffn_sub_norm.weight`, r.nFF);
  }
  return llamaTensorOrder(t);
}

/** The per-tensor output types: llama-quantize's rules for the recipe's type, from F32 originals. */
export function planRecipe(r: ScaleRecipe): PlannedType[] {
  return planMixture(
    { arch: r.arch, nLayer: r.nLayer, nHead: r.nHead, nHeadKv: r.nHeadKv },
    recipeTensors(r).map((t) => ({ name: t.name, dims: t.dims, type: GGMLType.F32 })),
    fileTypeByName(r.fileType),
    { tokenEmbeddingType: r.tokenEmbeddingType },
  );
}

/** Identifies what a file built from this recipe holds (cached files with another id are rebuilt). */
export function recipeId(r: ScaleRecipe): string {
  return createHash('sha256')
    .update(JSON.stringify({ v: GENERATOR_VERSION, r }))
    .digest('hex');
}
