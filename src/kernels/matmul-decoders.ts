/**
 * The per-type WGSL block decoders of the mat-vec/mat-mul kernels (shaders/common/dec_*.wgsl), one
 * entry per GGUF weight type, registered as `#include` snippets and attached to the quant table
 * (registerWgslDecode). Adding a type = one decoder file + one line here.
 *
 * A decoder defines QK (elements per block), QB (bytes per block), NCH (chunks per block) and
 * `chunk_dot(blockByteOffset, chunk, blockColumn)`, which decodes one 16- or 32-weight chunk into
 * registers and accumulates it for every token of the tile (shaders/common/qacc.wgsl).
 *
 * Layout decision — read in place, no repack. Blocks stay exactly as GGUF stores them, so the
 * streaming loader copies bytes and every consumer (mat-vec, embedding lookup, tests) sees one
 * layout. Types whose block size is not a multiple of 4 bytes (Q4_0 18, Q5_0 22, Q8_0 34, Q3_K 110,
 * Q6_K 210, TQ1_0 54, TQ2_0 66) load each word as a funnel shift of two neighbouring words
 * (shaders/common/bytes.wgsl); all others load words directly. Measured with bench/kernels.ts
 * `--layout` (which runs each unaligned type once more with ALIGNED forced, the best any repack
 * to 4-byte-aligned blocks could do at the same byte count): see the numbers quoted in
 * bench/README.md and the report of this kernel's commit. Repacking would also cost bytes for
 * Q4_0 (18 → 20: +11% traffic on bandwidth-bound GPUs) unless blocks were regrouped across rows.
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
import qaccWgsl from '../../shaders/common/qacc.wgsl?raw';
import { UnsupportedTensorTypeError } from '../errors.ts';
import { registerWgslSnippet } from '../gpu/pipelines.ts';
import { registerWgslDecode } from '../quant/table.ts';
import { GGMLType, quantLayout } from '../quant/types.ts';

export interface MatmulDecoder {
  type: GGMLType;
  /** Snippet name for `#include`. */
  snippet: string;
  source: string;
  /** Chunks per block (the unit a thread decodes at once), as NCH in the snippet. */
  chunksPerBlock: number;
  /** Float types: elements grouped into one "block" (chosen per row length, see floatBlock). */
  float?: boolean;
  /** Weights −1/0/+1 (add-only kernels). */
  ternary?: boolean;
}

const DECODERS: MatmulDecoder[] = [
  { type: GGMLType.F32, snippet: 'dec_f32', source: f32, chunksPerBlock: 1, float: true },
  { type: GGMLType.F16, snippet: 'dec_f16', source: f16, chunksPerBlock: 1, float: true },
  { type: GGMLType.BF16, snippet: 'dec_bf16', source: bf16, chunksPerBlock: 1, float: true },
  { type: GGMLType.Q4_0, snippet: 'dec_q4_0', source: q40, chunksPerBlock: 1 },
  { type: GGMLType.Q4_1, snippet: 'dec_q4_1', source: q41, chunksPerBlock: 1 },
  { type: GGMLType.Q5_0, snippet: 'dec_q5_0', source: q50, chunksPerBlock: 1 },
  { type: GGMLType.Q5_1, snippet: 'dec_q5_1', source: q51, chunksPerBlock: 1 },
  { type: GGMLType.Q8_0, snippet: 'dec_q8_0', source: q80, chunksPerBlock: 1 },
  { type: GGMLType.Q2_K, snippet: 'dec_q2_k', source: q2k, chunksPerBlock: 16 },
  { type: GGMLType.Q3_K, snippet: 'dec_q3_k', source: q3k, chunksPerBlock: 16 },
  { type: GGMLType.Q4_K, snippet: 'dec_q4_k', source: q4k, chunksPerBlock: 8 },
  { type: GGMLType.Q5_K, snippet: 'dec_q5_k', source: q5k, chunksPerBlock: 8 },
  { type: GGMLType.Q6_K, snippet: 'dec_q6_k', source: q6k, chunksPerBlock: 16 },
  { type: GGMLType.TQ1_0, snippet: 'dec_tq1_0', source: tq10, chunksPerBlock: 16, ternary: true },
  { type: GGMLType.TQ2_0, snippet: 'dec_tq2_0', source: tq20, chunksPerBlock: 8, ternary: true },
  { type: GGMLType.I2_S, snippet: 'dec_i2_s', source: i2s, chunksPerBlock: 4, ternary: true },
];

const BY_TYPE = new Map<GGMLType, MatmulDecoder>(DECODERS.map((d) => [d.type, d]));

registerWgslSnippet('bytes', bytesWgsl);
registerWgslSnippet('qacc', qaccWgsl);
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
export function blockGeometry(d: MatmulDecoder, cols: number): { blockElems: number; blockBytes: number; aligned: boolean } {
  if (d.float) {
    const fb = floatBlock(cols);
    const bytesPer = d.type === GGMLType.F32 ? 4 : 2;
    return { blockElems: fb, blockBytes: fb * bytesPer, aligned: true };
  }
  if (d.type === GGMLType.I2_S) return { blockElems: 128, blockBytes: 32, aligned: true };
  const layout = quantLayout(d.type)!;
  return { blockElems: layout.blockSize, blockBytes: layout.blockBytes, aligned: layout.blockBytes % 4 === 0 };
}
