/**
 * The quant table, after ggml's type_traits: one entry per GGML tensor type owning every fact
 * about it — its layout and row rule (types.ts: block bytes and elements, the row multiple, the
 * size of a per-tensor trailer), how to read that trailer, its CPU reference codecs (cpu/) with
 * the error bound the tests hold dequantize(quantize(x)) to, and its GPU decoder
 * (gpu-decoders.ts), whose presence is what GPU support means. The loader, the weights code, the kernels and the embedding ask the
 * entry and name no type. The entries are built once, from static references; nothing is attached
 * later.
 */

import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.ts';
import { dequantizeBF16, dequantizeF16, dequantizeF32, quantizeBF16, quantizeF16, quantizeF32 } from './cpu/float.ts';
import {
  dequantizeQ2_K,
  dequantizeQ3_K,
  dequantizeQ4_K,
  dequantizeQ5_K,
  dequantizeQ6_K,
  dequantizeQ8_K,
  quantizeQ2_K,
  quantizeQ2_KWeighted,
  quantizeQ3_K,
  quantizeQ3_KWeighted,
  quantizeQ4_K,
  quantizeQ4_KWeighted,
  quantizeQ5_K,
  quantizeQ5_KWeighted,
  quantizeQ6_K,
  quantizeQ6_KWeighted,
  quantizeQ8_K,
} from './cpu/kquants.ts';
import {
  dequantizeQ4_0,
  dequantizeQ4_1,
  dequantizeQ5_0,
  dequantizeQ5_1,
  dequantizeQ8_0,
  quantizeQ4_0,
  quantizeQ4_0Weighted,
  quantizeQ4_1,
  quantizeQ4_1Weighted,
  quantizeQ5_0,
  quantizeQ5_0Weighted,
  quantizeQ5_1,
  quantizeQ5_1Weighted,
  quantizeQ8_0,
} from './cpu/legacy.ts';
import {
  dequantizeI2S,
  dequantizeTQ1_0,
  dequantizeTQ2_0,
  i2sTensorParams,
  quantizeI2S,
  quantizeTQ1_0,
  quantizeTQ2_0,
} from './cpu/ternary.ts';
import {
  dequantizeIQ1_M,
  dequantizeIQ1_S,
  dequantizeIQ2_S,
  dequantizeIQ2_XS,
  dequantizeIQ2_XXS,
  dequantizeIQ3_S,
  dequantizeIQ3_XXS,
  dequantizeIQ4_NL,
  dequantizeIQ4_XS,
} from './cpu/iquants.ts';
import {
  DEC_BF16,
  DEC_F16,
  DEC_F32,
  DEC_I2_S,
  DEC_IQ1_M,
  DEC_IQ1_S,
  DEC_IQ2_S,
  DEC_IQ2_XS,
  DEC_IQ2_XXS,
  DEC_IQ3_S,
  DEC_IQ3_XXS,
  DEC_IQ4_NL,
  DEC_IQ4_XS,
  DEC_Q2_K,
  DEC_Q3_K,
  DEC_Q4_0,
  DEC_Q4_1,
  DEC_Q4_K,
  DEC_Q5_0,
  DEC_Q5_1,
  DEC_Q5_K,
  DEC_Q6_K,
  DEC_Q8_0,
  DEC_TQ1_0,
  DEC_TQ2_0,
  type GpuDecoder,
} from './gpu-decoders.ts';
import { allQuantLayouts, GGMLType, type QuantLayout, quantLayout, tensorByteSize } from './types.ts';

/** Tensor bytes → f32 values. `src` may be longer than needed; `dst`, when given, is filled. */
export type DequantizeFn = (src: Uint8Array, nElements: number, dst?: Float32Array) => Float32Array;
/** f32 values (a whole number of blocks) → tensor bytes, as llama.cpp's reference quantizer writes them. */
export type QuantizeFn = (src: Float32Array, dst?: Uint8Array) => Uint8Array;
/**
 * f32 rows → tensor bytes with importance weights, as llama.cpp's quantizer writes them given an
 * imatrix: `importance` holds one weight per column, so its length is the row length.
 */
export type WeightedQuantizeFn = (src: Float32Array, importance: Float32Array, dst?: Uint8Array) => Uint8Array;

/**
 * How far dequantize(quantize(x)) may stray from x: for every group of `group` consecutive values,
 * |x − x̂| ≤ rel · max|x| over the group + abs. Derived from the format (step size, clamping, the
 * f16 rounding of scales); `why` says how.
 */
export interface ErrorBound {
  readonly group: number;
  readonly rel: number;
  readonly abs: number;
  readonly why: string;
}

/** What a per-tensor trailer holds, read once at load time and applied by the kernels. */
export interface TensorParams {
  /** Multiplies every weight of the tensor (I2_S's scale). */
  readonly tensorScale: number;
}

export interface QuantType {
  readonly id: GGMLType;
  readonly name: string;
  readonly layout: QuantLayout;
  /** Row lengths must be a multiple of this (the layout's row rule). */
  readonly rowMultiple: number;
  /** Bytes after the rows that belong to the whole tensor (0 for most types). */
  readonly trailerBytes: number;
  /**
   * Bytes of one row of `cols` elements, trailer excluded. ModelFormatError (naming the tensor
   * when given) when cols is not a positive multiple of rowMultiple.
   */
  rowBytes(cols: number, tensorName?: string): number;
  /**
   * Bytes of one row of `cols` elements in the GPU buffers: rowBytes, or the decoder's row layout's
   * when the loader repacks the type (gpu-layout.ts). Same errors as rowBytes.
   */
  gpuRowBytes(cols: number, tensorName?: string): number;
  /** Reads the trailer (trailerBytes bytes); present exactly when trailerBytes > 0. */
  readonly readTensorParams?: (trailer: Uint8Array) => TensorParams;
  /** The CPU reference codec can dequantize (and quantize) tensors of this type read from a file. */
  readonly supportedOnCpu: boolean;
  /** The GPU kernels (mat-vec, mat-mul, embedding) run weights of this type: it has a decoder. */
  readonly supportedOnGpu: boolean;
  readonly dequantize?: DequantizeFn;
  readonly quantize?: QuantizeFn;
  /**
   * The importance-weighted quantizer, for the types whose llama.cpp quantizer uses an imatrix;
   * types without one (Q8_0, ternary, floats) quantize the same with or without it.
   */
  readonly quantizeWeighted?: WeightedQuantizeFn;
  readonly errorBound?: ErrorBound;
  /** The WGSL block decoder and its geometry; present exactly when supportedOnGpu. */
  readonly gpu?: GpuDecoder;
  /**
   * The type llama.cpp's CPU backend rounds a mat-mul's activations to before its dot product
   * with weights of this type (type_traits_cpu's vec_dot_type): Q8_0, Q8_1, Q8_K, or the float
   * type itself. Undefined for types llama.cpp does not define (I2_S). What the `ggml`
   * activations mode reproduces (kernels/ggml-round.ts).
   */
  readonly vecDotType?: GGMLType;
}

/** An entry the GPU kernels can run. */
export type GpuQuantType = QuantType & { readonly gpu: GpuDecoder };

const F16_REL = 2 ** -11; // half an f16 ulp, relative
const F16_SUB = 2 ** -25; // half the smallest f16 subnormal

/** The per-type facts beyond the layout; a type without one is known but unsupported. */
interface TypeSpec {
  dequantize: DequantizeFn;
  quantize?: QuantizeFn;
  quantizeWeighted?: WeightedQuantizeFn;
  /** Required with a quantizer: what the round-trip tests hold it to. */
  errorBound?: ErrorBound;
  /** Codecs exist but GGUF files never store the type (Q8_K is an activation format). */
  internal?: boolean;
  gpu?: GpuDecoder;
  readTensorParams?: (trailer: Uint8Array) => TensorParams;
  /** QuantType.vecDotType. */
  vecDotType?: GGMLType;
}

/**
 * K-quant bound over a 256-value super-block. `maxCode` is the largest |sub-block scale code ×
 * value code| (+ min code): the f16 super-block scales are absolute-accurate to 2^-25 only in the
 * subnormal range, so tiny weights (|x| ≲ 1e-5) can lose everything — that is the `abs` term.
 */
function kBound(rel: number, maxCode: number, why: string): ErrorBound {
  return { group: 256, rel, abs: maxCode * F16_SUB, why };
}

// Bounds: a value snaps to the nearest level d·q, so |err| ≤ d/2, plus |q|·(d − f16(d)) ≤
// |q|max·d·2^-11 from storing d as f16 (and |m|·2^-11 for the f16 min). Q4_0/Q5_0 map the
// largest magnitude to −2^(b−1), so the opposite extreme clamps one step short (error ≤ d).
// K-quants re-round every value against 6/8-bit quantized sub-block scales and can clamp too: their
// bound is one full level step plus the scale rounding, checked against the fixtures' real weights
// (worst case quoted) and the round-trip tests' synthetic data.
const SPECS: Partial<Record<GGMLType, TypeSpec>> = {
  [GGMLType.F32]: {
    vecDotType: GGMLType.F32,
    gpu: DEC_F32,
    dequantize: dequantizeF32,
    quantize: quantizeF32,
    errorBound: { group: 1, rel: 0, abs: 0, why: 'exact copy' },
  },
  [GGMLType.F16]: {
    vecDotType: GGMLType.F16,
    gpu: DEC_F16,
    dequantize: dequantizeF16,
    quantize: quantizeF16,
    errorBound: {
      group: 1,
      rel: F16_REL,
      abs: F16_SUB,
      why: 'round to nearest f16: half an ulp (2^-11 relative), 2^-25 absolute in the subnormal range; |x| ≥ 65520 becomes ±inf',
    },
  },
  [GGMLType.BF16]: {
    vecDotType: GGMLType.BF16,
    gpu: DEC_BF16,
    dequantize: dequantizeBF16,
    quantize: quantizeBF16,
    errorBound: { group: 1, rel: 2 ** -8, abs: 2 ** -134, why: 'round to nearest bf16: half an ulp of an 8-bit significand' },
  },
  [GGMLType.Q4_0]: {
    vecDotType: GGMLType.Q8_0,
    gpu: DEC_Q4_0,
    dequantize: dequantizeQ4_0,
    quantize: quantizeQ4_0,
    quantizeWeighted: quantizeQ4_0Weighted,
    errorBound: {
      group: 32,
      rel: (1 + 8 * F16_REL) / 8,
      abs: 8 * F16_SUB,
      why: 'd = amax/8; values on the side opposite the max clamp at 7d (error ≤ d), f16 d adds 8·d·2^-11',
    },
  },
  [GGMLType.Q4_1]: {
    vecDotType: GGMLType.Q8_1,
    gpu: DEC_Q4_1,
    dequantize: dequantizeQ4_1,
    quantize: quantizeQ4_1,
    quantizeWeighted: quantizeQ4_1Weighted,
    errorBound: {
      group: 32,
      rel: (2 / 15) * (0.5 + 15 * F16_REL) + F16_REL,
      abs: 16 * F16_SUB,
      why: 'd = range/15 ≤ 2·amax/15, error ≤ d/2 + 15·d·2^-11 + |min|·2^-11',
    },
  },
  [GGMLType.Q5_0]: {
    vecDotType: GGMLType.Q8_0,
    gpu: DEC_Q5_0,
    dequantize: dequantizeQ5_0,
    quantize: quantizeQ5_0,
    quantizeWeighted: quantizeQ5_0Weighted,
    errorBound: {
      group: 32,
      rel: (1 + 16 * F16_REL) / 16,
      abs: 16 * F16_SUB,
      why: 'd = amax/16; the side opposite the max clamps at 15d (error ≤ d), f16 d adds 16·d·2^-11',
    },
  },
  [GGMLType.Q5_1]: {
    vecDotType: GGMLType.Q8_1,
    gpu: DEC_Q5_1,
    dequantize: dequantizeQ5_1,
    quantize: quantizeQ5_1,
    quantizeWeighted: quantizeQ5_1Weighted,
    errorBound: {
      group: 32,
      rel: (2 / 31) * (0.5 + 31 * F16_REL) + F16_REL,
      abs: 32 * F16_SUB,
      why: 'd = range/31 ≤ 2·amax/31, error ≤ d/2 + 31·d·2^-11 + |min|·2^-11',
    },
  },
  [GGMLType.Q8_0]: {
    vecDotType: GGMLType.Q8_0,
    gpu: DEC_Q8_0,
    dequantize: dequantizeQ8_0,
    quantize: quantizeQ8_0,
    errorBound: { group: 32, rel: (0.5 + 127 * F16_REL) / 127, abs: 127 * F16_SUB, why: 'd = amax/127, error ≤ d/2 + 127·d·2^-11 (f16 d)' },
  },
  [GGMLType.Q2_K]: {
    vecDotType: GGMLType.Q8_K,
    gpu: DEC_Q2_K,
    dequantize: dequantizeQ2_K,
    quantize: quantizeQ2_K,
    quantizeWeighted: quantizeQ2_KWeighted,
    errorBound: kBound(
      2 / 3,
      15 * 3 + 15,
      '4 levels per 16 values: one level step (range/3 ≤ 2·amax/3) covers rounding, 4-bit scale/min rounding and clamping (fixtures: ≤ 0.37·amax)',
    ),
  },
  [GGMLType.Q3_K]: {
    vecDotType: GGMLType.Q8_K,
    gpu: DEC_Q3_K,
    dequantize: dequantizeQ3_K,
    quantize: quantizeQ3_K,
    quantizeWeighted: quantizeQ3_KWeighted,
    errorBound: kBound(
      0.3,
      32 * 4,
      '8 symmetric levels per 16 values: one level step (amax/4, the clamp at +3) plus 6-bit scale rounding (≤ 4·d/2 ≈ amax/64) (fixtures: ≤ 0.21·amax)',
    ),
  },
  [GGMLType.Q4_K]: {
    vecDotType: GGMLType.Q8_K,
    gpu: DEC_Q4_K,
    dequantize: dequantizeQ4_K,
    quantize: quantizeQ4_K,
    quantizeWeighted: quantizeQ4_KWeighted,
    errorBound: kBound(
      0.15,
      63 * 15 + 63,
      '16 levels per 32 values: one level step (range/15 ≤ 2·amax/15) plus 6-bit scale/min rounding (fixtures: ≤ 0.10·amax)',
    ),
  },
  [GGMLType.Q5_K]: {
    vecDotType: GGMLType.Q8_K,
    gpu: DEC_Q5_K,
    dequantize: dequantizeQ5_K,
    quantize: quantizeQ5_K,
    quantizeWeighted: quantizeQ5_KWeighted,
    errorBound: kBound(
      0.075,
      63 * 31 + 63,
      '32 levels per 32 values: one level step (range/31 ≤ 2·amax/31) plus 6-bit scale/min rounding (fixtures: ≤ 0.057·amax)',
    ),
  },
  [GGMLType.Q6_K]: {
    vecDotType: GGMLType.Q8_K,
    gpu: DEC_Q6_K,
    dequantize: dequantizeQ6_K,
    quantize: quantizeQ6_K,
    quantizeWeighted: quantizeQ6_KWeighted,
    errorBound: kBound(
      0.036,
      128 * 32,
      '64 symmetric levels per 16 values: one level step (amax/32, the clamp at +31) plus 8-bit scale rounding (≤ 32·d/2 ≈ amax/256) (fixtures: ≤ 0.017·amax)',
    ),
  },
  [GGMLType.Q8_K]: {
    dequantize: dequantizeQ8_K,
    quantize: quantizeQ8_K,
    internal: true,
    errorBound: { group: 256, rel: 0.5 / 127 + 2 ** -24, abs: 0, why: 'f32 d = amax/127, error ≤ d/2' },
  },
  [GGMLType.TQ1_0]: {
    vecDotType: GGMLType.Q8_K,
    gpu: DEC_TQ1_0,
    dequantize: dequantizeTQ1_0,
    quantize: quantizeTQ1_0,
    errorBound: {
      group: 256,
      rel: 0.5 + F16_REL,
      abs: F16_SUB,
      why: 'values snap to {−d, 0, d} with d = f16(amax): error ≤ d/2 (exact for ternary input with an f16 scale)',
    },
  },
  [GGMLType.TQ2_0]: {
    vecDotType: GGMLType.Q8_K,
    gpu: DEC_TQ2_0,
    dequantize: dequantizeTQ2_0,
    quantize: quantizeTQ2_0,
    errorBound: {
      group: 256,
      rel: 0.5 + F16_REL,
      abs: F16_SUB,
      why: 'values snap to {−d, 0, d} with d = f16(amax): error ≤ d/2 (exact for ternary input with an f16 scale)',
    },
  },
  // Made with an importance matrix by llama-quantize; lowbit only reads it (no quantizer, no bound).
  [GGMLType.IQ4_NL]: { vecDotType: GGMLType.Q8_0, gpu: DEC_IQ4_NL, dequantize: dequantizeIQ4_NL },
  [GGMLType.IQ2_XXS]: { vecDotType: GGMLType.Q8_K, gpu: DEC_IQ2_XXS, dequantize: dequantizeIQ2_XXS },
  [GGMLType.IQ2_XS]: { vecDotType: GGMLType.Q8_K, gpu: DEC_IQ2_XS, dequantize: dequantizeIQ2_XS },
  [GGMLType.IQ2_S]: { vecDotType: GGMLType.Q8_K, gpu: DEC_IQ2_S, dequantize: dequantizeIQ2_S },
  [GGMLType.IQ3_XXS]: { vecDotType: GGMLType.Q8_K, gpu: DEC_IQ3_XXS, dequantize: dequantizeIQ3_XXS },
  [GGMLType.IQ1_S]: { vecDotType: GGMLType.Q8_K, gpu: DEC_IQ1_S, dequantize: dequantizeIQ1_S },
  [GGMLType.IQ1_M]: { vecDotType: GGMLType.Q8_K, gpu: DEC_IQ1_M, dequantize: dequantizeIQ1_M },
  [GGMLType.IQ3_S]: { vecDotType: GGMLType.Q8_K, gpu: DEC_IQ3_S, dequantize: dequantizeIQ3_S },
  [GGMLType.IQ4_XS]: { vecDotType: GGMLType.Q8_K, gpu: DEC_IQ4_XS, dequantize: dequantizeIQ4_XS },
  [GGMLType.I2_S]: {
    gpu: DEC_I2_S,
    readTensorParams: i2sTensorParams,
    dequantize: dequantizeI2S,
    quantize: quantizeI2S,
    errorBound: {
      group: Number.POSITIVE_INFINITY,
      rel: 1,
      abs: 1e-6,
      why: 'signs only, against one per-tensor scale s = max|x|: exact for ternary {−s, 0, s} input; otherwise |x − x̂| ≤ s (or |x| < 1e-6 for values read as zero)',
    },
  },
};

function buildEntry(layout: QuantLayout): QuantType {
  const spec = SPECS[layout.id];
  return {
    id: layout.id,
    name: layout.name,
    layout,
    rowMultiple: layout.rowMultiple,
    trailerBytes: layout.trailerBytes,
    rowBytes: (cols, tensorName) => rowBytesOf(layout, cols, tensorName),
    gpuRowBytes: (cols, tensorName) => {
      const bytes = rowBytesOf(layout, cols, tensorName);
      return spec?.gpu?.rowLayout ? spec.gpu.rowLayout.rowBytes(cols) : bytes;
    },
    readTensorParams: spec?.readTensorParams,
    supportedOnCpu: spec !== undefined && !spec.internal,
    supportedOnGpu: spec?.gpu !== undefined,
    dequantize: spec?.dequantize,
    quantize: spec?.quantize,
    quantizeWeighted: spec?.quantizeWeighted,
    errorBound: spec?.errorBound,
    gpu: spec?.gpu,
    vecDotType: spec?.vecDotType,
  };
}

function rowBytesOf(layout: QuantLayout, cols: number, tensorName?: string): number {
  const where = tensorName ? `tensor "${tensorName}"` : 'tensor';
  if (!Number.isSafeInteger(cols) || cols < 1) throw new ModelFormatError(`${where}: row length must be a positive integer, got ${cols}`);
  if (cols % layout.rowMultiple !== 0) {
    throw new ModelFormatError(`${where}: ${layout.name} rows of ${cols} elements are not a multiple of ${layout.rowMultiple}`);
  }
  return (cols / layout.blockSize) * layout.blockBytes;
}

const ENTRIES = new Map<number, QuantType>(allQuantLayouts().map((l) => [l.id, buildEntry(l)]));

/** Every type GGUF defines, supported or not. */
export function allQuantTypes(): QuantType[] {
  return [...ENTRIES.values()];
}

/** The entry for a type id whether or not lowbit supports it; undefined for ids GGUF does not define. */
export function quantTypeInfo(id: number): QuantType | undefined {
  return ENTRIES.get(id);
}

/**
 * The entry for a type the CPU codecs handle. Throws UnsupportedTensorTypeError for ids GGUF does
 * not define and for known types without a codec (IQ*, MXFP4, Q8_1, integer tensors, …), naming
 * the tensor when given.
 */
export function getQuantType(id: number, tensorName?: string): QuantType {
  return supportedEntry(id, tensorName, 'cpu');
}

/**
 * The entry for a type the GPU kernels run (it has a decoder), with the same errors as
 * {@link getQuantType}, listing the GPU types.
 */
export function getGpuQuantType(id: number, tensorName?: string): GpuQuantType {
  return supportedEntry(id, tensorName, 'gpu') as GpuQuantType;
}

/** Entries the GPU kernels run, in table order. */
export function gpuQuantTypes(): GpuQuantType[] {
  return allQuantTypes().filter((t): t is GpuQuantType => t.supportedOnGpu);
}

function supportedEntry(id: number, tensorName: string | undefined, on: 'cpu' | 'gpu'): QuantType {
  const where = tensorName ? `tensor "${tensorName}": ` : '';
  const entry = ENTRIES.get(id);
  if (!entry) {
    throw new UnsupportedTensorTypeError(`${where}unknown GGML tensor type id ${id}`, id, tensorName);
  }
  const supported = (t: QuantType) => (on === 'cpu' ? t.supportedOnCpu : t.supportedOnGpu);
  if (!supported(entry)) {
    const names = allQuantTypes()
      .filter(supported)
      .map((t) => t.name);
    throw new UnsupportedTensorTypeError(
      `${where}tensor type ${entry.name} (id ${id}) is not supported ${on === 'gpu' ? 'on the GPU ' : ''}yet; supported: ${names.join(', ')}`,
      id,
      tensorName,
    );
  }
  return entry;
}

/** Bytes a tensor of this type and element count occupies, as a ModelFormatError when it cannot. */
function expectedBytes(entry: QuantType, nElements: number, tensorName?: string): number {
  const where = tensorName ? `tensor "${tensorName}" ` : '';
  if (!Number.isSafeInteger(nElements) || nElements < 0) {
    throw new ModelFormatError(`${where}(${entry.name}): element count ${nElements} is not a non-negative integer`);
  }
  if (nElements % entry.layout.blockSize !== 0) {
    throw new ModelFormatError(
      `${where}(${entry.name}): ${nElements} elements is not a multiple of the block size ${entry.layout.blockSize}`,
    );
  }
  if (nElements % entry.rowMultiple !== 0) {
    throw new ModelFormatError(`${where}(${entry.name}): ${nElements} elements is not a multiple of ${entry.rowMultiple}`);
  }
  return tensorByteSize(entry.layout, nElements);
}

/**
 * Dequantize a whole tensor: `bytes` are exactly the tensor's bytes, per-tensor trailer included. Throws UnsupportedTensorTypeError for types
 * without a codec and ModelFormatError when the byte count does not match the element count.
 */
export function dequantizeTensor(
  type: GGMLType | number,
  bytes: Uint8Array,
  nElements: number,
  opts: { dst?: Float32Array; tensorName?: string } = {},
): Float32Array {
  const entry = getQuantType(type, opts.tensorName);
  const need = expectedBytes(entry, nElements, opts.tensorName);
  if (bytes.length < need) {
    const where = opts.tensorName ? `tensor "${opts.tensorName}" ` : '';
    throw new ModelFormatError(`${where}(${entry.name}): ${nElements} elements need ${need} bytes, got ${bytes.length}`);
  }
  return entry.dequantize!(bytes.subarray(0, need), nElements, opts.dst);
}

/** Quantize a whole tensor to `type` with llama.cpp's reference quantizer (no importance matrix). */
export function quantizeTensor(type: GGMLType | number, values: Float32Array, tensorName?: string): Uint8Array {
  const entry = getQuantType(type, tensorName);
  if (!entry.quantize) {
    throw new UnsupportedTensorTypeError(`no quantizer for ${entry.name}`, entry.id, tensorName);
  }
  expectedBytes(entry, values.length, tensorName);
  return entry.quantize(values);
}

export { quantLayout };
