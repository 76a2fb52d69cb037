/**
 * The int8-activation decoders (shaders/common/dot8_*.wgsl) of the types the int8 mat-vec runs
 * (src/kernels/matvec-q8.ts), keyed by the type's f32 decoder so the kernels ask the quant table's
 * entry, never a type name.
 *
 * A snippet defines QK, QB, NCH (as its f32 decoder), `xblock(chunk, k)` (the 32-element
 * activation block, within the weight block, of the chunk's k-th of NXB), and the chunk's product
 * in two halves so the kernels decode a weight chunk once for all their tokens:
 * `unpack_q8(blockByteOffset, chunk) → Wq8` (every weight load and bit operation: packed int8
 * words, or the SWAR code fields, and the weight scales) and `dot_unpacked(w: Wq8, x: Xq8) → f32`
 * (the products with one token's quantized activations by dot4I8Packed or SWAR, summed in i32 per
 * block and scaled per block).
 */
import i2s from '../../shaders/common/dot8_i2_s.wgsl?raw';
import q40 from '../../shaders/common/dot8_q4_0.wgsl?raw';
import q41 from '../../shaders/common/dot8_q4_1.wgsl?raw';
import q4k from '../../shaders/common/dot8_q4_k.wgsl?raw';
import q6k from '../../shaders/common/dot8_q6_k.wgsl?raw';
import q80 from '../../shaders/common/dot8_q8_0.wgsl?raw';
import tq10 from '../../shaders/common/dot8_tq1_0.wgsl?raw';
import tq20 from '../../shaders/common/dot8_tq2_0.wgsl?raw';
import { DEC_I2_S, DEC_Q4_0, DEC_Q4_1, DEC_Q4_K, DEC_Q6_K, DEC_Q8_0, DEC_TQ1_0, DEC_TQ2_0, type GpuDecoder } from './gpu-decoders.ts';

export interface Int8Decoder {
  /** Snippet name for `#include` (the int8 kernel's DECODER8 define). */
  readonly snippet: string;
  readonly source: string;
  /** Chunks per weight block (NCH): the unit one thread decodes at once. */
  readonly chunksPerBlock: number;
  /** 32-element activation blocks per chunk (NXB). */
  readonly xBlocksPerChunk: number;
  /** Codes of ≤ 4 bits: also has the SWAR products (swar_dot in common/q8_dot.wgsl), without dot4I8Packed. */
  readonly swar: boolean;
}

const int8 = (snippet: string, source: string, chunksPerBlock: number, xBlocksPerChunk: number, swar = false): Int8Decoder => ({
  snippet,
  source,
  chunksPerBlock,
  xBlocksPerChunk,
  swar,
});

const INT8_DECODERS: ReadonlyMap<GpuDecoder, Int8Decoder> = new Map([
  [DEC_Q8_0, int8('dot8_q8_0', q80, 1, 1)],
  [DEC_Q4_0, int8('dot8_q4_0', q40, 1, 1, true)],
  [DEC_Q4_1, int8('dot8_q4_1', q41, 1, 1, true)],
  [DEC_Q4_K, int8('dot8_q4_k', q4k, 4, 2, true)],
  [DEC_Q6_K, int8('dot8_q6_k', q6k, 4, 2)],
  [DEC_TQ2_0, int8('dot8_tq2_0', tq20, 2, 4, true)],
  [DEC_TQ1_0, int8('dot8_tq1_0', tq10, 1, 8, true)],
  [DEC_I2_S, int8('dot8_i2_s', i2s, 1, 4, true)],
]);

/** The int8-activation decoder of a type's GPU decoder, if it has one. */
export function int8DecoderOf(d: GpuDecoder): Int8Decoder | undefined {
  return INT8_DECODERS.get(d);
}
