/**
 * The per-type WGSL block decoders of the mat-vec/mat-mul kernels (shaders/common/dec_*.wgsl), one
 * entry per GGUF weight type, registered as `#include` snippets and attached to the quant table
 * (registerWgslDecode). Adding a type = one decoder file + one line here.
 *
 * A decoder defines QK (elements per block), QB (bytes per block), NCH (chunks per block),
 * `chunk_x(chunk, i)` (the block column of the chunk's vec4 i) and `decode(blockByteOffset, chunk)`
 * → Dq (CW vec4s of integer codes as f32 with per-group scale a and offset m) or, for ternary
 * types, `decode_t` → Tq (codes and the scale),
 * straight-line code (shaders/common/dq.wgsl). Kernels dot the chunk with the input.
 *
 * Layout decision — read in place, no repack. Blocks stay exactly as GGUF stores them, so the
 * streaming loader only copies bytes and every consumer (mat-vec, embedding lookup, tests) sees one
 * layout. Types whose block is not a multiple of 4 bytes (Q4_0 18, Q5_0 22, Q8_0 34, Q3_K 110,
 * Q6_K 210, TQ1_0 54, TQ2_0 66) load a run of n words as n + 1 loads and funnel shifts
 * (shaders/common/bytes.wgsl); Q4_1, Q5_1, Q2_K load words directly; Q4_K, Q5_K, I2_S and the
 * float types are 16-byte aligned and load 16-byte words.
 * Measured (bench/kernels.ts --layout, SwiftShader, 2048×2048 mat-vec, the unaligned types run
 * again with every load treated as aligned — what a repack to 4-byte-aligned blocks could reach at
 * the same byte count): Q4_0 14.2 → 12.9 ms, Q8_0 15.8 → 14.2, Q6_K 29.6 → 27.9, TQ2_0 19.4 → 16.9,
 * TQ1_0 22.0 → 17.3, Q3_K 30.9 → 23.6 (noisy machine: ±10%). A 4-byte repack is not expressible
 * per block without padding (Q4_0 18 → 20 bytes: +11% bytes on bandwidth-bound GPUs, where the
 * funnel shifts cost nothing); a prototype Q4_0 kernel with 16-byte-aligned quants (which needs
 * blocks regrouped 8 at a time across rows, i.e. a group-wise loader repack) ran 1.65× faster
 * here — recorded as the next step if SwiftShader speed matters. On SwiftShader decoding is
 * ALU-bound (several instructions per weight against ~2 per 16 bytes for the read kernel), so
 * layout is not the main limit.
 */
import bf16 from '../../shaders/common/dec_bf16.wgsl?raw';
import f16 from '../../shaders/common/dec_f16.wgsl?raw';
import f32 from '../../shaders/common/dec_f32.wgsl?raw';
import i2s from '../../shaders/common/dec_i2_s.wgsl?raw';
import q2k from '../../shaders/common/dec_q2_k.wgsl?raw';
import q3k from '../../shaders/common/dec_q3_k.wgsl?raw';
import q40 from '../../shaders/common/dec_q4_0.wgsl?raw';
import q41 from '../../shaders/common/dec_q4_1.wgsl?raw';
import q4k from '../../shaders/common/dec_q4_k.wgsl?raw';
import q50 from '../../shaders/common/dec_q5_0.wgsl?raw';
import q51 from '../../shaders/common/dec_q5_1.wgsl?raw';
import q5k from '../../shaders/common/dec_q5_k.wgsl?raw';
import q6k from '../../shaders/common/dec_q6_k.wgsl?raw';
import q80 from '../../shaders/common/dec_q8_0.wgsl?raw';
import tq10 from '../../shaders/common/dec_tq1_0.wgsl?raw';
import tq20 from '../../shaders/common/dec_tq2_0.wgsl?raw';
import bytesWgsl from '../../shaders/common/bytes.wgsl?raw';
import dqWgsl from '../../shaders/common/dq.wgsl?raw';
import kscalesWgsl from '../../shaders/common/kscales.wgsl?raw';
import { UnsupportedTensorTypeError } from '../errors.ts';
import { registerWgslSnippet } from '../gpu/pipelines.ts';
import { registerWgslDecode } from '../quant/table.ts';
import { GGMLType, quantLayout } from '../quant/types.ts';

export interface MatmulDecoder {
  type: GGMLType;
  /** Snippet name for `#include`. */
  snippet: string;
  source: string;
  /** Chunks per block (NCH in the snippet): the unit one thread decodes at once. */
  chunksPerBlock: number;
  /** vec4s per chunk (CW); 0 for float types, where it follows the row length (floatBlock / 4). */
  chunkVec4s: number;
  /** Reads 16-byte words (binding W4): its fields are 16-byte aligned in every block. */
  usesW4: boolean;
  /** Scale groups per chunk (NG): Dq.a[g] (and .m[g]) apply to vec4s [g·CW/NG, (g+1)·CW/NG). */
  groups: number;
  /** Weights are a·q + m with m ≠ 0 (a block min, or a zero point folded out: Q4_0's −8·d). */
  hasMin: boolean;
  /** Float types: elements grouped into one "block" chosen per row length (floatBlock). */
  float?: boolean;
  /** Weights −1/0/+1 (add-only kernels; decode_t returns codes). */
  ternary?: boolean;
}

const D = (type: GGMLType, snippet: string, source: string, chunksPerBlock: number, chunkVec4s: number, extra: Partial<MatmulDecoder> = {}): MatmulDecoder => ({
  type,
  snippet,
  source,
  chunksPerBlock,
  chunkVec4s,
  usesW4: false,
  groups: 1,
  hasMin: false,
  ...extra,
});

const DECODERS: MatmulDecoder[] = [
  D(GGMLType.F32, 'dec_f32', f32, 1, 0, { float: true, usesW4: true }),
  D(GGMLType.F16, 'dec_f16', f16, 1, 0, { float: true }),
  D(GGMLType.BF16, 'dec_bf16', bf16, 1, 0, { float: true }),
  D(GGMLType.Q4_0, 'dec_q4_0', q40, 1, 8, { hasMin: true }),
  D(GGMLType.Q4_1, 'dec_q4_1', q41, 1, 8, { hasMin: true }),
  D(GGMLType.Q5_0, 'dec_q5_0', q50, 1, 8, { hasMin: true }),
  D(GGMLType.Q5_1, 'dec_q5_1', q51, 1, 8, { hasMin: true }),
  D(GGMLType.Q8_0, 'dec_q8_0', q80, 1, 8),
  D(GGMLType.Q2_K, 'dec_q2_k', q2k, 8, 8, { groups: 2, hasMin: true }),
  D(GGMLType.Q3_K, 'dec_q3_k', q3k, 8, 8, { groups: 2, hasMin: true }),
  D(GGMLType.Q4_K, 'dec_q4_k', q4k, 4, 16, { usesW4: true, groups: 2, hasMin: true }),
  D(GGMLType.Q5_K, 'dec_q5_k', q5k, 4, 16, { usesW4: true, groups: 2, hasMin: true }),
  D(GGMLType.Q6_K, 'dec_q6_k', q6k, 4, 16, { groups: 4, hasMin: true }),
  D(GGMLType.TQ1_0, 'dec_tq1_0', tq10, 3, 24, { ternary: true }),
  D(GGMLType.TQ2_0, 'dec_tq2_0', tq20, 2, 32, { ternary: true }),
  D(GGMLType.I2_S, 'dec_i2_s', i2s, 1, 32, { ternary: true, usesW4: true }),
];

const BY_TYPE = new Map<GGMLType, MatmulDecoder>(DECODERS.map((d) => [d.type, d]));

registerWgslSnippet('bytes', bytesWgsl);
registerWgslSnippet('dq', dqWgsl);
registerWgslSnippet('kscales', kscalesWgsl);
for (const d of DECODERS) {
  registerWgslSnippet(d.snippet, d.source);
  registerWgslDecode(d.type, d.source);
}

/** Weight types the mat-vec/mat-mul kernels run. */
export const MATMUL_TYPES: readonly GGMLType[] = DECODERS.map((d) => d.type);

export function matmulDecoder(type: GGMLType, weightName?: string): MatmulDecoder {
  const d = BY_TYPE.get(type);
  if (!d) {
    const where = weightName ? `${weightName}: ` : '';
    throw new UnsupportedTensorTypeError(
      `${where}no GPU mat-vec kernel for tensor type ${GGMLType[type] ?? type}; supported: ${DECODERS.map((x) => GGMLType[x.type]).join(', ')}`,
      type,
      weightName,
    );
  }
  return d;
}

/** Elements per "block" for float types: the largest of 32, 16, 8, 4 dividing the row (0 if none). */
export function floatBlock(cols: number): number {
  for (const b of [32, 16, 8, 4]) if (cols % b === 0) return b;
  return 0;
}

/** Block geometry of a decoder for rows of `cols` elements. */
export interface BlockGeometry {
  blockElems: number;
  blockBytes: number;
  /** Blocks (and so rows) are 4-byte aligned: words load directly. */
  aligned: boolean;
  /** vec4s per chunk. */
  chunkVec4s: number;
  usesW4: boolean;
}

export function blockGeometry(d: MatmulDecoder, cols: number): BlockGeometry {
  if (d.float) {
    const fb = floatBlock(cols);
    const bytesPer = d.type === GGMLType.F32 ? 4 : 2;
    return { blockElems: fb, blockBytes: fb * bytesPer, aligned: true, chunkVec4s: fb / 4, usesW4: d.type === GGMLType.F32 || fb >= 8 };
  }
  if (d.type === GGMLType.I2_S) return { blockElems: 128, blockBytes: 32, aligned: true, chunkVec4s: d.chunkVec4s, usesW4: true };
  const layout = quantLayout(d.type)!;
  return { blockElems: layout.blockSize, blockBytes: layout.blockBytes, aligned: layout.blockBytes % 4 === 0, chunkVec4s: d.chunkVec4s, usesW4: d.usesW4 };
}
