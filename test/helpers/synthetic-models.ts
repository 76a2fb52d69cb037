/**
 * Tiny random-weight GGUF models for architectures the shared fixtures lack (qwen2, qwen3, llama
 * with Llama-3 rope_freqs / linear scaling, bitnet with per-tensor scales, bitnet-b1.58), written
 * with exactly the metadata keys and tensor names llama.cpp loads, and the stories260K tokenizer so
 * llama.cpp can tokenize and sample.
 *
 * Generation is deterministic: each tensor draws from its own PRNG stream seeded by (seed, tensor
 * name), so two specs that differ only in an option (arch bitnet vs bitnet-b1.58, F32 vs Q4_K)
 * hold the same underlying values. Files go to one temp directory per process; identical specs are
 * written once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGGUF, writeGGUFToBytes, type GGUFMetadataInput, type GGUFTensorInput } from '../../src/gguf/index.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { f16ToF32, f32ToF16 } from '../../src/quant/cpu/float.ts';
import { quantizeTensor } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { localModel } from './fixtures.ts';
import { rng as mulberry32 } from './random.ts';

export type SyntheticArch = 'llama' | 'qwen2' | 'qwen3' | 'bitnet' | 'bitnet-b1.58';
export type SyntheticWeightType =
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'Q8_0'
  | 'Q4_0'
  | 'Q4_1'
  | 'Q5_0'
  | 'Q5_1'
  | 'Q2_K'
  | 'Q3_K'
  | 'Q4_K'
  | 'Q5_K'
  | 'Q6_K'
  | 'TQ1_0'
  | 'TQ2_0'
  | 'I2_S';

export interface SyntheticModelSpec {
  arch: SyntheticArch;
  seed: number;
  nLayer: number;
  nEmbd: number;
  nFF: number;
  nHead: number;
  nHeadKV: number;
  /** Per-head Q/K/V width; written as attention.key_length/value_length when given. */
  headDim?: number;
  vocab?: 'stories260K';
  /** Type of the seven block matrices (q, k, v, o, gate, up, down). Default F32. */
  weightType?: SyntheticWeightType;
  /** Type of token_embd.weight. Default F32. */
  embdType?: SyntheticWeightType;
  /** Type of output.weight (untied head only). Default F32. */
  outputType?: SyntheticWeightType;
  /** Llama-3 style rope_freqs.weight (per-pair frequency divisors in [1, 8]). */
  ropeFreqs?: boolean;
  /** rope.scaling.type = linear with this factor. */
  ropeScalingLinear?: number;
  ropeBase?: number;
  /** bitnet only: blk.N.<matrix>.scale F32 [1] multipliers for all seven block matrices. */
  bitnetScales?: boolean;
  /** No output.weight: the head reuses token_embd (always so for bitnet archs, as llama.cpp's bitnet ignores output.weight). */
  tiedOutput?: boolean;
  /** Standard deviation of the logits before softmax (sets the LM head scale). Default 4. */
  logitStd?: number;
  /**
   * Gain of the q/k and gate projections (default 2): larger sharpens attention and the gate so
   * positions matter more, but also amplifies rounding noise (llama.cpp quantizes activations for
   * quantized weights).
   */
  sharpness?: number;
  /** Make block matrices ternary {−s, 0, +s} (default: for bitnet archs and ternary types). */
  ternary?: boolean;
  rmsEps?: number;
  /** The trained context written as <arch>.context_length. Default 2048. */
  contextLength?: number;
}

// llama.cpp's llama_ftype for general.file_type (informational; llama.cpp does not check it).
const FILE_TYPE: Partial<Record<SyntheticWeightType, number>> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q8_0: 7,
  Q5_0: 8,
  Q5_1: 9,
  Q2_K: 10,
  Q3_K: 12,
  Q4_K: 15,
  Q5_K: 17,
  Q6_K: 18,
  BF16: 32,
  TQ1_0: 36,
  TQ2_0: 37,
};

const TERNARY_TYPES = new Set<SyntheticWeightType>(['TQ1_0', 'TQ2_0', 'I2_S']);

// ---------------------------------------------------------------------------------- PRNG

/** FNV-1a of a string mixed with the seed: one independent stream per tensor. */
function streamSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export class SeededRandom {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  uniform(): number {
    return this.next();
  }
  /** Standard normal (Box–Muller; one value per call keeps the stream simple). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

// ------------------------------------------------------------------------- tokenizer source

let vocabMeta: Promise<{ entries: GGUFMetadataInput[]; size: number }> | undefined;

/** Every tokenizer.* entry of the committed stories260K.gguf (SPM, 512 tokens), types kept. */
function stories260KVocab(): Promise<{ entries: GGUFMetadataInput[]; size: number }> {
  vocabMeta ??= (async () => {
    const src = await FileByteSource.open(localModel('stories260K.gguf'));
    try {
      const file = await readGGUF(src);
      const entries = [...file.metadata.values()]
        .filter((m) => m.key.startsWith('tokenizer.'))
        .map(({ key, type, value }) => ({ key, type, value }));
      const size = file.tensor('token_embd.weight')!.dims[1]!;
      return { entries, size };
    } finally {
      await src.close();
    }
  })();
  return vocabMeta;
}

// ------------------------------------------------------------------------------ the model

interface Ctx {
  spec: SyntheticModelSpec;
  tensors: GGUFTensorInput[];
}

function typeId(name: SyntheticWeightType): GGMLType {
  const id = (GGMLType as unknown as Record<string, number>)[name];
  if (id === undefined) throw new RangeError(`unknown weight type ${name}`);
  return id;
}

function addTensor(ctx: Ctx, name: string, dims: number[], values: Float32Array, type: SyntheticWeightType = 'F32'): void {
  const id = typeId(type);
  ctx.tensors.push({ name, dims, type: id, data: quantizeTensor(id, values, name) });
}

function gaussian(ctx: Ctx, name: string, n: number, std: number, mean = 0): Float32Array {
  const rng = new SeededRandom(streamSeed(ctx.spec.seed, name));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * rng.normal();
  return out;
}

/**
 * {−s, 0, +s} with P(0) = 1/3; s rounded to f16 so TQ1_0/TQ2_0 (f16 block scale = block max)
 * and I2_S (f32 tensor scale) hold the values exactly. Variance matches N(0, std²).
 */
function ternaryValues(ctx: Ctx, name: string, n: number, std: number): Float32Array {
  const rng = new SeededRandom(streamSeed(ctx.spec.seed, name));
  const s = f16ToF32(f32ToF16(std * Math.sqrt(1.5)));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    out[i] = u < 1 / 3 ? -s : u < 2 / 3 ? 0 : s;
  }
  return out;
}

/** Norm weights around 1 with some spread so a wrong norm placement changes the output. */
function normWeights(ctx: Ctx, name: string, n: number): Float32Array {
  const rng = new SeededRandom(streamSeed(ctx.spec.seed, name));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.6 + 0.8 * rng.uniform();
  return out;
}

function matrix(ctx: Ctx, name: string, cols: number, rows: number, gain = 1): void {
  const s = ctx.spec;
  const type = s.weightType ?? 'F32';
  const ternary = s.ternary ?? (s.arch.startsWith('bitnet') || TERNARY_TYPES.has(type));
  const std = gain / Math.sqrt(cols);
  const v = ternary ? ternaryValues(ctx, name, cols * rows, std) : gaussian(ctx, name, cols * rows, std);
  addTensor(ctx, name, [cols, rows], v, type);
}

function checkSpec(s: SyntheticModelSpec, headDim: number): void {
  const ints = { nLayer: s.nLayer, nEmbd: s.nEmbd, nFF: s.nFF, nHead: s.nHead, nHeadKV: s.nHeadKV, headDim };
  for (const [k, v] of Object.entries(ints)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`synthetic model: ${k} = ${v} is not a positive integer`);
  }
  if (s.nHead % s.nHeadKV !== 0) throw new RangeError(`synthetic model: nHead ${s.nHead} is not a multiple of nHeadKV ${s.nHeadKV}`);
  if (headDim % 2 !== 0) throw new RangeError(`synthetic model: headDim ${headDim} must be even for RoPE`);
  if (s.arch.startsWith('bitnet') && headDim * s.nHead !== s.nEmbd) {
    throw new RangeError(`synthetic model: llama.cpp's bitnet needs nHead·headDim = nEmbd (${s.nHead}·${headDim} ≠ ${s.nEmbd})`);
  }
  if (s.bitnetScales && !s.arch.startsWith('bitnet')) throw new RangeError('synthetic model: bitnetScales needs a bitnet arch');
  if (s.ropeFreqs && s.arch !== 'llama') throw new RangeError('synthetic model: rope_freqs is a llama-arch tensor');
}

/** The complete write spec (metadata + tensors with data) of a synthetic model. */
export async function syntheticModelSpec(spec: SyntheticModelSpec): Promise<{ metadata: GGUFMetadataInput[]; tensors: GGUFTensorInput[] }> {
  const a = spec.arch;
  const headDim = spec.headDim ?? spec.nEmbd / spec.nHead;
  checkSpec(spec, headDim);
  const vocab = await stories260KVocab();
  const nVocab = vocab.size;
  const { nLayer, nEmbd, nFF, nHead, nHeadKV } = spec;
  const bitnet = a.startsWith('bitnet');
  const tied = bitnet || (spec.tiedOutput ?? false);
  const logitStd = spec.logitStd ?? 4;
  const wtype = spec.weightType ?? 'F32';
  const quantized = ![spec.weightType, spec.embdType, spec.outputType].every(
    (t) => t === undefined || t === 'F32' || t === 'F16' || t === 'BF16',
  );

  const U32 = 4; // GGUFValueType.UINT32
  const F32 = 6; // GGUFValueType.FLOAT32
  const metadata: GGUFMetadataInput[] = [
    { key: 'general.architecture', value: a },
    { key: 'general.name', value: `synthetic-${a}-${wtype}-s${spec.seed}` },
    { key: 'general.file_type', type: U32, value: FILE_TYPE[wtype] ?? 0 },
    ...(quantized ? [{ key: 'general.quantization_version', type: U32, value: 2 }] : []),
    { key: `${a}.context_length`, type: U32, value: spec.contextLength ?? 2048 },
    { key: `${a}.embedding_length`, type: U32, value: nEmbd },
    { key: `${a}.block_count`, type: U32, value: nLayer },
    { key: `${a}.feed_forward_length`, type: U32, value: nFF },
    { key: `${a}.attention.head_count`, type: U32, value: nHead },
    { key: `${a}.attention.head_count_kv`, type: U32, value: nHeadKV },
    ...(spec.headDim !== undefined
      ? [
          { key: `${a}.attention.key_length`, type: U32, value: headDim },
          { key: `${a}.attention.value_length`, type: U32, value: headDim },
        ]
      : []),
    { key: `${a}.attention.layer_norm_rms_epsilon`, type: F32, value: spec.rmsEps ?? 1e-5 },
    { key: `${a}.rope.freq_base`, type: F32, value: spec.ropeBase ?? 10000 },
    // llama.cpp defaults n_rot to n_embd/n_head, not to key_length: always write it.
    { key: `${a}.rope.dimension_count`, type: U32, value: headDim },
    ...(spec.ropeScalingLinear !== undefined
      ? [
          { key: `${a}.rope.scaling.type`, value: 'linear' },
          { key: `${a}.rope.scaling.factor`, type: F32, value: spec.ropeScalingLinear },
        ]
      : []),
    ...vocab.entries,
  ];

  const ctx: Ctx = { spec, tensors: [] };
  // Tied head: the embedding scale sets the logit scale (|normed x|² ≈ nEmbd). Untied: embeddings
  // are N(0, 1) and the head alone sets it.
  const headStd = logitStd / Math.sqrt(nEmbd);
  addTensor(
    ctx,
    'token_embd.weight',
    [nEmbd, nVocab],
    gaussian(ctx, 'token_embd.weight', nEmbd * nVocab, tied ? headStd : 1),
    spec.embdType,
  );
  if (spec.ropeFreqs) {
    const rng = new SeededRandom(streamSeed(spec.seed, 'rope_freqs.weight'));
    const f = new Float32Array(headDim / 2);
    // Llama-3 leaves high frequencies alone and divides low ones by up to the scaling factor.
    for (let i = 0; i < f.length; i++) f[i] = i < f.length / 4 ? 1 : 1 + 7 * rng.uniform();
    addTensor(ctx, 'rope_freqs.weight', [headDim / 2], f);
  }
  addTensor(ctx, 'output_norm.weight', [nEmbd], normWeights(ctx, 'output_norm.weight', nEmbd));
  if (!tied) addTensor(ctx, 'output.weight', [nEmbd, nVocab], gaussian(ctx, 'output.weight', nEmbd * nVocab, headStd), spec.outputType);

  const sharp = spec.sharpness ?? 2;
  const qDim = nHead * headDim;
  const kvDim = nHeadKV * headDim;
  for (let l = 0; l < nLayer; l++) {
    const p = `blk.${l}.`;
    addTensor(ctx, `${p}attn_norm.weight`, [nEmbd], normWeights(ctx, `${p}attn_norm.weight`, nEmbd));
    // Larger q/k gains sharpen attention so positions (and RoPE) matter.
    matrix(ctx, `${p}attn_q.weight`, nEmbd, qDim, sharp);
    matrix(ctx, `${p}attn_k.weight`, nEmbd, kvDim, sharp);
    matrix(ctx, `${p}attn_v.weight`, nEmbd, kvDim);
    matrix(ctx, `${p}attn_output.weight`, qDim, nEmbd);
    if (a === 'qwen2') {
      addTensor(ctx, `${p}attn_q.bias`, [qDim], gaussian(ctx, `${p}attn_q.bias`, qDim, 0.5));
      addTensor(ctx, `${p}attn_k.bias`, [kvDim], gaussian(ctx, `${p}attn_k.bias`, kvDim, 0.5));
      addTensor(ctx, `${p}attn_v.bias`, [kvDim], gaussian(ctx, `${p}attn_v.bias`, kvDim, 0.5));
    }
    if (a === 'qwen3') {
      // Per-head RMSNorm weights (shared by all heads); spread so a per-row or missing norm shows.
      addTensor(
        ctx,
        `${p}attn_q_norm.weight`,
        [headDim],
        normWeights(ctx, `${p}attn_q_norm.weight`, headDim).map((x) => 2 * x),
      );
      addTensor(ctx, `${p}attn_k_norm.weight`, [headDim], normWeights(ctx, `${p}attn_k_norm.weight`, headDim));
    }
    if (bitnet) addTensor(ctx, `${p}attn_sub_norm.weight`, [qDim], normWeights(ctx, `${p}attn_sub_norm.weight`, qDim));
    addTensor(ctx, `${p}ffn_norm.weight`, [nEmbd], normWeights(ctx, `${p}ffn_norm.weight`, nEmbd));
    matrix(ctx, `${p}ffn_gate.weight`, nEmbd, nFF, sharp);
    matrix(ctx, `${p}ffn_up.weight`, nEmbd, nFF);
    matrix(ctx, `${p}ffn_down.weight`, nFF, nEmbd);
    if (bitnet) addTensor(ctx, `${p}ffn_sub_norm.weight`, [nFF], normWeights(ctx, `${p}ffn_sub_norm.weight`, nFF));
    if (spec.bitnetScales) {
      for (const m of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down']) {
        const rng = new SeededRandom(streamSeed(spec.seed, `${p}${m}.scale`));
        // Sub-norms renormalise after o/down, so their scales only matter through the residual.
        addTensor(ctx, `${p}${m}.scale`, [1], Float32Array.of(0.4 + 1.6 * rng.uniform()));
      }
    }
  }
  return { metadata, tensors: ctx.tensors };
}

let dir: string | undefined;
let fileCounter = 0;
const written = new Map<string, Promise<string>>();

function specKey(spec: SyntheticModelSpec): string {
  return JSON.stringify(
    Object.entries(spec)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

/** Writes the model to this process's temp directory (once per distinct spec); returns its path. */
export function makeSyntheticModel(spec: SyntheticModelSpec): Promise<string> {
  const key = specKey(spec);
  let p = written.get(key);
  if (!p) {
    p = (async () => {
      const bytes = await writeGGUFToBytes(await syntheticModelSpec(spec));
      dir ??= mkdtempSync(join(tmpdir(), 'lowbit-synthetic-'));
      const path = join(dir, `${spec.arch}-${spec.weightType ?? 'F32'}-${fileCounter++}.gguf`);
      writeFileSync(path, bytes);
      return path;
    })();
    written.set(key, p);
    p.catch(() => written.delete(key));
  }
  return p;
}

/** Removes every file written by makeSyntheticModel in this process. */
export function removeSyntheticModels(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  written.clear();
}
