/**
 * Per-tensor type rules of the quantization mixtures ("file types"): given a model's tensors and
 * shape and a target such as Q4_K_M, which GGML type each tensor gets. The rules are llama.cpp's
 * (`llama_tensor_get_type` in llama-quant.cpp, as of the build that made the fixtures), so a
 * file quantized here has the same type mix as one from `llama-quantize`:
 *  - output.weight (and token_embd.weight when the model ties them) gets Q6_K, or Q8_0 when its
 *    rows are not a whole number of the target's blocks;
 *  - attn_v and ffn_down get more bits in some layers (`useMoreBits`: the first and last eighth and
 *    every third layer between), depending on the mixture;
 *  - a type whose block does not divide the row length falls back (Q4_K → Q5_0, Q6_K → Q8_0, …,
 *    then F16);
 *  - 1-D tensors and norms keep their type.
 * The tensors are visited in llama.cpp's order (non-layer tensors by name, then layer by layer,
 * by name within a layer) because the "more bits" rules count attn_v / ffn_down tensors as they go.
 */

import { QuantizeError } from '../errors.ts';
import { quotedName } from '../gguf/file.ts';
import { GGMLType, quantLayout } from './types.ts';

/** One mixture a user can ask for: its `general.file_type` id and the type most tensors get. */
export interface FileType {
  readonly name: string;
  /** llama.cpp's llama_ftype value, written to `general.file_type`. */
  readonly ftype: number;
  readonly defaultType: GGMLType;
}

function fileType(name: string, ftype: number, defaultType: GGMLType): FileType {
  return { name, ftype, defaultType };
}

// llama.h's LLAMA_FTYPE_MOSTLY_* values; I2_S is BitNet's fork (40).
const FILE_TYPES: readonly FileType[] = [
  fileType('F32', 0, GGMLType.F32),
  fileType('F16', 1, GGMLType.F16),
  fileType('Q4_0', 2, GGMLType.Q4_0),
  fileType('Q4_1', 3, GGMLType.Q4_1),
  fileType('Q8_0', 7, GGMLType.Q8_0),
  fileType('Q5_0', 8, GGMLType.Q5_0),
  fileType('Q5_1', 9, GGMLType.Q5_1),
  fileType('Q2_K', 10, GGMLType.Q2_K),
  fileType('Q3_K_S', 11, GGMLType.Q3_K),
  fileType('Q3_K_M', 12, GGMLType.Q3_K),
  fileType('Q3_K_L', 13, GGMLType.Q3_K),
  fileType('Q4_K_S', 14, GGMLType.Q4_K),
  fileType('Q4_K_M', 15, GGMLType.Q4_K),
  fileType('Q5_K_S', 16, GGMLType.Q5_K),
  fileType('Q5_K_M', 17, GGMLType.Q5_K),
  fileType('Q6_K', 18, GGMLType.Q6_K),
  fileType('BF16', 32, GGMLType.BF16),
  fileType('TQ1_0', 36, GGMLType.TQ1_0),
  fileType('TQ2_0', 37, GGMLType.TQ2_0),
  fileType('I2_S', 40, GGMLType.I2_S),
];

/** llama-quantize's aliases. */
const ALIASES: Record<string, string> = { Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M' };

export function allFileTypes(): readonly FileType[] {
  return FILE_TYPES;
}

/** The mixture named `name` (case-insensitive, aliases accepted); QuantizeError listing the valid names. */
export function fileTypeByName(name: string): FileType {
  const upper = name.toUpperCase();
  const found = FILE_TYPES.find((f) => f.name === (ALIASES[upper] ?? upper));
  if (!found) {
    throw new QuantizeError(`unknown quantization type "${name.slice(0, 40)}"; choose one of: ${FILE_TYPES.map((f) => f.name).join(', ')}`);
  }
  return found;
}

/** The model facts the rules look at. */
export interface ModelShape {
  /** `general.architecture`. */
  readonly arch: string;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  /** Experts per MoE layer; 0 or absent for dense models. */
  readonly nExpert?: number;
}

export interface MixtureTensor {
  readonly name: string;
  /** ggml order: dims[0] is the row length. */
  readonly dims: readonly number[];
  /** The tensor's type in the input file. */
  readonly type: GGMLType | number;
}

export interface MixtureOptions {
  /** llama-quantize --pure: every quantizable tensor gets the default type (overrides still apply). */
  readonly pure?: boolean;
  /** --output-type. */
  readonly outputType?: GGMLType;
  /** --token-embedding-type. */
  readonly tokenEmbeddingType?: GGMLType;
  /** An importance matrix is in use (changes a few Q4_0/Q5_0 ffn_down choices). */
  readonly hasImatrix?: boolean;
}

export interface PlannedType {
  readonly name: string;
  readonly dims: readonly number[];
  readonly inputType: number;
  /** Type in the output file. */
  readonly type: GGMLType | number;
  /** False when the bytes are copied unchanged (norms, 1-D tensors, or already the right type). */
  readonly requantize: boolean;
}

/** llama.cpp's tensor order: layer index (−1 outside blocks) first, then the name. */
export function llamaTensorOrder<T extends { readonly name: string }>(tensors: readonly T[]): T[] {
  const layer = (name: string) => {
    const m = /^blk\.(\d+)\./.exec(name);
    return m ? Number(m[1]) : -1;
  };
  return [...tensors].sort((a, b) => {
    const la = layer(a.name);
    const lb = layer(b.name);
    if (la !== lb) return la - lb;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** Dimensions that count (ggml_n_dims: trailing 1s do not). */
function nDims(dims: readonly number[]): number {
  let n = dims.length;
  while (n > 1 && dims[n - 1] === 1) n--;
  return n;
}

/** Names llama-quantize never quantizes whatever the mixture (besides 1-D tensors and norms). */
const NEVER_QUANTIZED = [
  'ffn_gate_inp.weight',
  'ssm_conv1d.weight',
  'time_mix_first.weight',
  'time_mix_w1.weight',
  'time_mix_w2.weight',
  'time_mix_decay_w1.weight',
  'time_mix_decay_w2.weight',
  'time_mix_lerp_fused.weight',
  'attn_rel_b.weight',
];

function isQuantizable(t: MixtureTensor): boolean {
  return (
    t.name.endsWith('weight') &&
    nDims(t.dims) >= 2 &&
    !t.name.includes('_norm.weight') &&
    !NEVER_QUANTIZED.some((n) => t.name.includes(n)) &&
    t.name !== 'position_embd.weight' &&
    t.name !== 'token_types.weight'
  );
}

function isQuantizedType(t: GGMLType): boolean {
  const family = quantLayout(t)?.family;
  return family !== undefined && family !== 'float' && family !== 'int';
}

function blockSize(t: GGMLType | number): number {
  return quantLayout(t)?.blockSize ?? 1;
}

/** layers < n/8, ≥ 7n/8, and every third one between: where "M" mixtures spend more bits. */
function useMoreBits(iLayer: number, nLayers: number): boolean {
  const eighth = Math.trunc(nLayers / 8);
  return iLayer < eighth || iLayer >= Math.trunc((7 * nLayers) / 8) || (iLayer - eighth) % 3 === 2;
}

/** The type a row length that the chosen type's block does not divide falls back to. */
function fallbackType(type: GGMLType | number, name: string, rowLength: number): GGMLType {
  let fallback: GGMLType;
  switch (type) {
    case GGMLType.TQ1_0:
    case GGMLType.TQ2_0:
      fallback = GGMLType.Q4_0;
      break;
    case GGMLType.IQ2_XXS:
    case GGMLType.IQ2_XS:
    case GGMLType.IQ2_S:
    case GGMLType.IQ3_XXS:
    case GGMLType.IQ3_S:
    case GGMLType.IQ1_S:
    case GGMLType.IQ1_M:
    case GGMLType.Q2_K:
    case GGMLType.Q3_K:
    case GGMLType.IQ4_XS:
      fallback = GGMLType.IQ4_NL;
      break;
    case GGMLType.Q4_K:
      fallback = GGMLType.Q5_0;
      break;
    case GGMLType.Q5_K:
      fallback = GGMLType.Q5_1;
      break;
    case GGMLType.Q6_K:
      fallback = GGMLType.Q8_0;
      break;
    default:
      throw new QuantizeError(
        `tensor ${quotedName(name)}: rows of ${rowLength} values do not fit ${quantLayout(type)?.name ?? type} blocks and that type has no fallback`,
      );
  }
  return rowLength % blockSize(fallback) === 0 ? fallback : GGMLType.F16;
}

/** Running counts of the rules that depend on a tensor's position among its kind. */
interface RuleState {
  readonly nAttentionWv: number;
  readonly hasOutput: boolean;
  iAttentionWv: number;
  iFfnDown: number;
}

/** llama_tensor_get_type for the mixtures lowbit can write (no IQ* mixtures: they need an imatrix). */
function ruleType(state: RuleState, shape: ModelShape, t: MixtureTensor, ft: FileType, opts: MixtureOptions): GGMLType | number {
  const name = t.name;
  const f = ft.name;
  const nExpert = shape.nExpert ?? 0;
  const nGqa = shape.nHeadKv > 0 ? Math.trunc(shape.nHead / shape.nHeadKv) : 0;
  const falcon = shape.arch === 'falcon';
  // llama.cpp calls 80-layer llama (with grouped KV heads), deci, qwen2 and olmo models "70B":
  // their small attn_v gets more bits.
  const is70B =
    shape.nLayer === 80 && (shape.arch === 'llama' ? shape.nHead !== shape.nHeadKv : ['deci', 'qwen2', 'olmo'].includes(shape.arch));
  const rowLength = t.dims[0] ?? 1;
  let type: GGMLType | number = ft.defaultType;

  if (name === 'output.weight' || (!state.hasOutput && name === 'token_embd.weight')) {
    if (opts.outputType !== undefined) type = opts.outputType;
    else if (falcon || rowLength % blockSize(type) !== 0) type = GGMLType.Q8_0;
    else if (type !== GGMLType.Q8_0) type = GGMLType.Q6_K;
  } else if (name === 'token_embd.weight') {
    if (opts.tokenEmbeddingType !== undefined) type = opts.tokenEmbeddingType;
    else if (f === 'TQ1_0' || f === 'TQ2_0') type = GGMLType.Q4_K;
  } else if (name.includes('attn_v.weight')) {
    if (f === 'Q2_K') type = nGqa >= 4 ? GGMLType.Q4_K : GGMLType.Q3_K;
    else if (f === 'Q3_K_M') type = state.iAttentionWv < 2 ? GGMLType.Q5_K : GGMLType.Q4_K;
    else if (f === 'Q3_K_L') type = GGMLType.Q5_K;
    else if ((f === 'Q4_K_M' || f === 'Q5_K_M') && useMoreBits(state.iAttentionWv, state.nAttentionWv)) type = GGMLType.Q6_K;
    else if (f === 'Q4_K_S' && state.iAttentionWv < 4) type = GGMLType.Q5_K;
    if (is70B && (type === GGMLType.Q3_K || type === GGMLType.Q4_K)) type = GGMLType.Q5_K;
    if (nExpert === 8) type = GGMLType.Q8_0;
    state.iAttentionWv++;
  } else if (name.includes('attn_k.weight')) {
    if (nExpert === 8) type = GGMLType.Q8_0;
  } else if (name.includes('ffn_down')) {
    const [iLayer, nLayer] = layerInfo(state.iFfnDown, shape.nLayer, nExpert, name);
    if (f === 'Q2_K') type = GGMLType.Q3_K;
    else if (f === 'Q3_K_M') {
      type = iLayer < Math.trunc(nLayer / 16) ? GGMLType.Q5_K : !falcon || useMoreBits(iLayer, nLayer) ? GGMLType.Q4_K : GGMLType.Q3_K;
    } else if (f === 'Q3_K_L') type = falcon ? GGMLType.Q4_K : GGMLType.Q5_K;
    else if (f === 'Q4_K_M') {
      if (falcon) {
        type = iLayer < Math.trunc(nLayer / 16) ? GGMLType.Q6_K : useMoreBits(iLayer, nLayer) ? GGMLType.Q5_K : GGMLType.Q4_K;
      } else if (useMoreBits(iLayer, nLayer)) type = GGMLType.Q6_K;
    } else if (f === 'Q5_K_M' && useMoreBits(iLayer, nLayer)) type = GGMLType.Q6_K;
    else if (f === 'Q4_K_S' && !falcon && iLayer < Math.trunc(nLayer / 8)) type = GGMLType.Q5_K;
    else if ((f === 'Q4_0' || f === 'Q5_0') && opts.hasImatrix && iLayer < Math.trunc(nLayer / 8)) {
      type = f === 'Q4_0' ? GGMLType.Q4_1 : GGMLType.Q5_1;
    }
    state.iFfnDown++;
  } else if (name.includes('attn_output.weight')) {
    if (!falcon) {
      if (nExpert === 8) {
        if (['Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q4_K_S', 'Q4_K_M'].includes(f)) type = GGMLType.Q5_K;
      } else if (f === 'Q2_K') type = GGMLType.Q3_K;
      else if (f === 'Q3_K_M') type = GGMLType.Q4_K;
      else if (f === 'Q3_K_L') type = GGMLType.Q5_K;
    } else if (f === 'Q3_K_L') type = GGMLType.Q4_K;
  } else if (name.includes('attn_qkv.weight')) {
    if (f === 'Q3_K_M' || f === 'Q3_K_L') type = GGMLType.Q4_K;
    else if (f === 'Q4_K_M') type = GGMLType.Q5_K;
    else if (f === 'Q5_K_M') type = GGMLType.Q6_K;
  }
  // ffn_gate / ffn_up only change for IQ3_XS, which lowbit does not write.

  if (rowLength % blockSize(type) !== 0) type = fallbackType(type, name, rowLength);
  return type;
}

/** Which layer a ffn_down tensor belongs to: its position among ffn_down tensors, or (MoE) its name. */
function layerInfo(position: number, nLayer: number, nExpert: number, name: string): [number, number] {
  if (nExpert <= 1) return [position, nLayer];
  const m = /^blk\.(\d+)\./.exec(name);
  const layer = m ? Number(m[1]) : NaN;
  if (!(layer >= 0 && layer < nLayer)) throw new QuantizeError(`tensor ${quotedName(name)}: cannot tell its layer (model has ${nLayer})`);
  return [layer, nLayer];
}

/**
 * The output type of every tensor, in llama.cpp's write order. Tensors that stay as they are
 * (norms, 1-D, already the target type) have `requantize: false`.
 */
export function planMixture(shape: ModelShape, tensors: readonly MixtureTensor[], ft: FileType, opts: MixtureOptions = {}): PlannedType[] {
  const ordered = llamaTensorOrder(tensors);
  const state: RuleState = {
    nAttentionWv: ordered.filter((t) => /attn_v\.weight|attn_qkv\.weight|attn_kv_b\.weight/.test(t.name)).length,
    hasOutput: ordered.some((t) => t.name === 'output.weight'),
    iAttentionWv: 0,
    iFfnDown: 0,
  };
  // BitNet's tools write the I2_S mixture with an F16 token embedding (its tied LM head).
  const effective: MixtureOptions =
    ft.defaultType === GGMLType.I2_S && opts.tokenEmbeddingType === undefined ? { ...opts, tokenEmbeddingType: GGMLType.F16 } : opts;
  return ordered.map((t) => {
    if (!isQuantizable(t)) return { name: t.name, dims: t.dims, inputType: t.type, type: t.type, requantize: false };
    let type: GGMLType | number = ft.defaultType;
    if (!effective.pure && isQuantizedType(ft.defaultType)) type = ruleType(state, shape, t, ft, effective);
    if (effective.tokenEmbeddingType !== undefined && t.name === 'token_embd.weight') type = effective.tokenEmbeddingType;
    if (effective.outputType !== undefined && t.name === 'output.weight') type = effective.outputType;
    return { name: t.name, dims: t.dims, inputType: t.type, type, requantize: type !== t.type };
  });
}

/** The shape facts from a GGUF header's metadata (`get` returns a key's value or undefined). */
export function modelShapeFromMetadata(get: (key: string) => unknown): ModelShape {
  const arch = get('general.architecture');
  if (typeof arch !== 'string') throw new QuantizeError('general.architecture is missing: cannot choose per-tensor types');
  const count = (key: string, fallback?: number): number => {
    const v = get(`${arch}.${key}`);
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) return n;
    // Per-layer arrays (GGUFArray): the rules read layer 0, as llama.cpp's n_gqa() does.
    const first = n !== null && typeof n === 'object' && 'items' in n ? (n.items as ArrayLike<unknown>)[0] : undefined;
    if (typeof first === 'number') return first;
    if (fallback !== undefined) return fallback;
    throw new QuantizeError(`metadata ${quotedName(`${arch}.${key}`)} is missing or not a count`);
  };
  const nHead = count('attention.head_count', 0);
  return {
    arch,
    nLayer: count('block_count'),
    nHead,
    nHeadKv: count('attention.head_count_kv', nHead),
    nExpert: count('expert_count', 0),
  };
}
