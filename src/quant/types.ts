/**
 * Layout facts for every GGML tensor type a GGUF file can name: block sizes, the row rule and any
 * per-tensor trailer, i.e. everything needed to size a tensor. The GGUF reader sizes tensors with
 * it; the quant table (`table.ts`) joins each layout with the type's CPU codecs and GPU decoder.
 *
 * Ids follow upstream ggml, except 34–36 where BitNet's fork and upstream agree on TQ1_0/TQ2_0 and
 * the fork adds I2_S (36). Upstream uses 39 for MXFP4 while the fork uses it for TL2, so 39 is
 * ambiguous; we size it as MXFP4 (upstream) and support neither.
 */

export enum GGMLType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  I2_S = 36,
  MXFP4 = 39,
}

export type QuantFamily = 'float' | 'int' | 'legacy' | 'k-quant' | 'ternary' | 'i-quant' | 'mx';

export interface QuantLayout {
  readonly id: GGMLType;
  /** Name as GGUF tools spell it (`Q4_K`, `TQ2_0`, …). */
  readonly name: string;
  /** Elements per block. Rows (ne[0]) must be a multiple of it. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly blockBytes: number;
  readonly family: QuantFamily;
  /**
   * Row lengths (ne[0]) lowbit accepts are multiples of this: the block size, or more when the
   * codes are packed in larger groups (I2_S: 128 values per 32 bytes).
   */
  readonly rowMultiple: number;
  /** Bytes after the last row that belong to the tensor as a whole (I2_S: the f32 scale, padded). */
  readonly trailerBytes: number;
}

function layout(
  id: GGMLType,
  blockSize: number,
  blockBytes: number,
  family: QuantFamily,
  rows: { rowMultiple?: number; trailerBytes?: number } = {},
): QuantLayout {
  return {
    id,
    name: GGMLType[id],
    blockSize,
    blockBytes,
    family,
    rowMultiple: rows.rowMultiple ?? blockSize,
    trailerBytes: rows.trailerBytes ?? 0,
  };
}

// Byte counts per block (ggml's structs):
//   Q4_0 d:f16 qs[16]              Q4_1 d,m:f16 qs[16]         Q5_0 d qh[4] qs[16]    Q5_1 d,m qh[4] qs[16]
//   Q8_0 d qs[32]                  Q8_1 d,s qs[32]
//   Q2_K scales[16] qs[64] d dmin  Q3_K hmask[32] qs[64] scales[12] d
//   Q4_K d dmin scales[12] qs[128] Q5_K d dmin scales[12] qh[32] qs[128]
//   Q6_K ql[128] qh[64] scales[16] d                                  Q8_K d:f32 qs[256] bsums:i16[16]
//   TQ1_0 qs[48] qh[4] d           TQ2_0 qs[64] d
//   I2_S 4 codes per byte, packed 128 to 32 bytes; one f32 scale per tensor after the codes,
//        padded to a 32-byte trailer (BitNet's ggml sizes it as n/4 + 32).
const LAYOUTS: readonly QuantLayout[] = [
  layout(GGMLType.F32, 1, 4, 'float'),
  layout(GGMLType.F16, 1, 2, 'float'),
  layout(GGMLType.BF16, 1, 2, 'float'),
  layout(GGMLType.F64, 1, 8, 'float'),
  layout(GGMLType.I8, 1, 1, 'int'),
  layout(GGMLType.I16, 1, 2, 'int'),
  layout(GGMLType.I32, 1, 4, 'int'),
  layout(GGMLType.I64, 1, 8, 'int'),
  layout(GGMLType.Q4_0, 32, 18, 'legacy'),
  layout(GGMLType.Q4_1, 32, 20, 'legacy'),
  layout(GGMLType.Q5_0, 32, 22, 'legacy'),
  layout(GGMLType.Q5_1, 32, 24, 'legacy'),
  layout(GGMLType.Q8_0, 32, 34, 'legacy'),
  layout(GGMLType.Q8_1, 32, 36, 'legacy'),
  layout(GGMLType.Q2_K, 256, 84, 'k-quant'),
  layout(GGMLType.Q3_K, 256, 110, 'k-quant'),
  layout(GGMLType.Q4_K, 256, 144, 'k-quant'),
  layout(GGMLType.Q5_K, 256, 176, 'k-quant'),
  layout(GGMLType.Q6_K, 256, 210, 'k-quant'),
  layout(GGMLType.Q8_K, 256, 292, 'k-quant'),
  layout(GGMLType.IQ2_XXS, 256, 66, 'i-quant'),
  layout(GGMLType.IQ2_XS, 256, 74, 'i-quant'),
  layout(GGMLType.IQ3_XXS, 256, 98, 'i-quant'),
  layout(GGMLType.IQ1_S, 256, 50, 'i-quant'),
  layout(GGMLType.IQ4_NL, 32, 18, 'i-quant'),
  layout(GGMLType.IQ3_S, 256, 110, 'i-quant'),
  layout(GGMLType.IQ2_S, 256, 82, 'i-quant'),
  layout(GGMLType.IQ4_XS, 256, 136, 'i-quant'),
  layout(GGMLType.IQ1_M, 256, 56, 'i-quant'),
  layout(GGMLType.TQ1_0, 256, 54, 'ternary'),
  layout(GGMLType.TQ2_0, 256, 66, 'ternary'),
  layout(GGMLType.I2_S, 4, 1, 'ternary', { rowMultiple: 128, trailerBytes: 32 }),
  layout(GGMLType.MXFP4, 32, 17, 'mx'),
];

const BY_ID = new Map<number, QuantLayout>(LAYOUTS.map((l) => [l.id, l]));
const BY_NAME = new Map<string, QuantLayout>(LAYOUTS.map((l) => [l.name, l]));

/** Layout of a type id, or undefined for an id GGUF does not define (4, 5, 31–33, 37, 38, >39). */
export function quantLayout(id: number): QuantLayout | undefined {
  return BY_ID.get(id);
}

export function quantLayoutByName(name: string): QuantLayout | undefined {
  return BY_NAME.get(name.toUpperCase());
}

export function allQuantLayouts(): readonly QuantLayout[] {
  return LAYOUTS;
}

/**
 * Bytes a tensor of `nElements` occupies: its blocks plus the per-tensor trailer. Throws a RangeError when nElements is not a whole number
 * of blocks; callers that parse untrusted input check that first and raise their own typed error.
 */
export function tensorByteSize(type: QuantLayout, nElements: number): number {
  if (nElements % type.blockSize !== 0) {
    throw new RangeError(`${nElements} elements is not a multiple of ${type.name}'s block size ${type.blockSize}`);
  }
  return (nElements / type.blockSize) * type.blockBytes + type.trailerBytes;
}
