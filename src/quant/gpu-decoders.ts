/**
 * The WGSL block decoders of the GPU kernels (shaders/common/dec_*.wgsl) and their geometry: one
 * decoder per type the GPU runs, referenced by that type's entry in the quant table (table.ts).
 * The mat-vec/mat-mul kernels and the embedding lookup both decode through them.
 *
 * A decoder snippet defines QK (elements per block), QB (bytes per block), NCH (chunks per block),
 * `chunk_x(chunk, i)` (the block column of the chunk's vec4 i) and `decode_q(blockByteOffset,
 * chunk)` → Dq (CW vec4s of integer codes as f32 with per-group scale a and offset m; dq.wgsl
 * derives `decode()`, the weights themselves, from it) or, for ternary types, `decode_t` → Tq
 * (codes and the scale), straight-line code. Kernels dot the chunk with the input.
 *
 * Blocks are read in place as GGUF stores them, except where a decoder has a GPU row layout
 * (gpu-layout.ts: TQ2_0, repacked at load time into aligned groups): why, and what each costs, is
 * measured in docs/kernels.md. Kernels address block b of a row starting at byte rb as
 * `block_at(rb, b)` (the "block_at" snippet: rb + b·QB, or the layout's own).
 */
import bf16 from '../../shaders/common/dec_bf16.wgsl?raw';
import f16 from '../../shaders/common/dec_f16.wgsl?raw';
import f32 from '../../shaders/common/dec_f32.wgsl?raw';
import i2s from '../../shaders/common/dec_i2_s.wgsl?raw';
import iq1m from '../../shaders/common/dec_iq1_m.wgsl?raw';
import iq1s from '../../shaders/common/dec_iq1_s.wgsl?raw';
import iq2s from '../../shaders/common/dec_iq2_s.wgsl?raw';
import iq2xs from '../../shaders/common/dec_iq2_xs.wgsl?raw';
import iq2xxs from '../../shaders/common/dec_iq2_xxs.wgsl?raw';
import iq3s from '../../shaders/common/dec_iq3_s.wgsl?raw';
import iq3xxs from '../../shaders/common/dec_iq3_xxs.wgsl?raw';
import iq4nl from '../../shaders/common/dec_iq4_nl.wgsl?raw';
import iq4xs from '../../shaders/common/dec_iq4_xs.wgsl?raw';
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
import codeWordsWgsl from '../../shaders/common/code_words.wgsl?raw';
import dqWgsl from '../../shaders/common/dq.wgsl?raw';
import iq4nlWgsl from '../../shaders/common/iq4nl.wgsl?raw';
import iqWgsl from '../../shaders/common/iq.wgsl?raw';
import kscalesWgsl from '../../shaders/common/kscales.wgsl?raw';
import { IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID, type GridCodes } from './cpu/iq-grids.ts';
import { type GpuRowLayout, LINEAR_BLOCK_AT, TQ2_0_GROUPED } from './gpu-layout.ts';
import type { QuantLayout } from './types.ts';

export interface GpuDecoder {
  /** Snippet name for `#include` (the kernels' DECODER define). */
  readonly snippet: string;
  readonly source: string;
  /** Chunks per block (NCH in the snippet): the unit one thread decodes at once. */
  readonly chunksPerBlock: number;
  /** vec4s per chunk (CW); 0 for float types, where it follows the row length (floatBlock / 4). */
  readonly chunkVec4s: number;
  /**
   * A smaller chunk the snippet also decodes (written for either CW), for the tiled GEMM: its
   * unrolled work per chunk is rows × tokens × CW under a cap, so a 32-vec4 chunk leaves it 4 × 4
   * tiles where an 8-vec4 one allows 4 × 16 (docs/kernels.md). Unset: the GEMM takes chunkVec4s.
   */
  readonly gemmChunkVec4s?: number;
  /** Scale groups per GEMM chunk, where they are not `groups` (Q6_K: 2 of its 4). */
  readonly gemmGroups?: number;
  /** Reads 16-byte words (binding W4): its fields are 16-byte aligned in every block. */
  readonly usesW4: boolean;
  /** Scale groups per chunk (NG): Dq.a[g] (and .m[g]) apply to vec4s [g·CW/NG, (g+1)·CW/NG). */
  readonly groups: number;
  /** Weights are a·q + m with m ≠ 0 (a block min, or a zero point folded out: Q4_0's −8·d). */
  readonly hasMin: boolean;
  /** Float types: elements grouped into one "block" chosen per row length (floatBlock). */
  readonly float?: boolean;
  /** Weights −1/0/+1 (add-only kernels; decode_t returns codes). */
  readonly ternary?: boolean;
  /** Reads rows in this layout, not the file's: the loader repacks them (gpu-layout.ts). */
  readonly rowLayout?: GpuRowLayout;
}

const decoder = (
  snippet: string,
  source: string,
  chunksPerBlock: number,
  chunkVec4s: number,
  extra: Partial<GpuDecoder> = {},
): GpuDecoder => ({
  snippet,
  source,
  chunksPerBlock,
  chunkVec4s,
  usesW4: false,
  groups: 1,
  hasMin: false,
  ...extra,
});

export const DEC_F32 = decoder('dec_f32', f32, 1, 0, { float: true, usesW4: true });
export const DEC_F16 = decoder('dec_f16', f16, 1, 0, { float: true });
export const DEC_BF16 = decoder('dec_bf16', bf16, 1, 0, { float: true });
export const DEC_Q4_0 = decoder('dec_q4_0', q40, 1, 8, { hasMin: true });
export const DEC_Q4_1 = decoder('dec_q4_1', q41, 1, 8, { hasMin: true });
export const DEC_Q5_0 = decoder('dec_q5_0', q50, 1, 8, { hasMin: true });
export const DEC_Q5_1 = decoder('dec_q5_1', q51, 1, 8, { hasMin: true });
export const DEC_Q8_0 = decoder('dec_q8_0', q80, 1, 8);
export const DEC_Q2_K = decoder('dec_q2_k', q2k, 8, 8, { groups: 2, hasMin: true });
export const DEC_Q3_K = decoder('dec_q3_k', q3k, 8, 8, { groups: 2, hasMin: true });
export const DEC_Q4_K = decoder('dec_q4_k', q4k, 4, 16, { usesW4: true, groups: 2, hasMin: true, gemmChunkVec4s: 8 });
export const DEC_Q5_K = decoder('dec_q5_k', q5k, 4, 16, { usesW4: true, groups: 2, hasMin: true, gemmChunkVec4s: 8 });
export const DEC_Q6_K = decoder('dec_q6_k', q6k, 4, 16, { groups: 4, hasMin: true, gemmChunkVec4s: 8, gemmGroups: 2 });
export const DEC_TQ1_0 = decoder('dec_tq1_0', tq10, 3, 24, { ternary: true, gemmChunkVec4s: 12 });
export const DEC_TQ2_0 = decoder('dec_tq2_0', tq20, 2, 32, { ternary: true, usesW4: true, rowLayout: TQ2_0_GROUPED, gemmChunkVec4s: 8 });
export const DEC_I2_S = decoder('dec_i2_s', i2s, 1, 32, { ternary: true, usesW4: true, gemmChunkVec4s: 8 });
/**
 * A codebook as a WGSL `const` array, appended to the decoder that indexes it: the grids live once,
 * in cpu/iq-grids.ts, for the CPU dequantizers and the shaders alike.
 */
function wgslCodebook(name: string, codes: GridCodes): string {
  return `\nconst ${name} = array<u32, ${codes.length}>(${Array.from(codes, (c) => `${c}u`).join(', ')});\n`;
}

export const DEC_IQ3_S = decoder('dec_iq3_s', iq3s + wgslCodebook('IQ3S_GRID', IQ3S_GRID), 8, 8);
export const DEC_IQ3_XXS = decoder('dec_iq3_xxs', iq3xxs + wgslCodebook('IQ3XXS_GRID', IQ3XXS_GRID), 8, 8);
export const DEC_IQ2_XXS = decoder('dec_iq2_xxs', iq2xxs + wgslCodebook('IQ2XXS_GRID', IQ2XXS_GRID), 8, 8);
export const DEC_IQ2_XS = decoder('dec_iq2_xs', iq2xs + wgslCodebook('IQ2XS_GRID', IQ2XS_GRID), 8, 8, { groups: 2 });
export const DEC_IQ2_S = decoder('dec_iq2_s', iq2s + wgslCodebook('IQ2S_GRID', IQ2S_GRID), 8, 8, { groups: 2 });
export const DEC_IQ1_S = decoder('dec_iq1_s', iq1s + wgslCodebook('IQ1S_GRID', IQ1S_GRID), 8, 8);
export const DEC_IQ1_M = decoder('dec_iq1_m', iq1m + wgslCodebook('IQ1S_GRID', IQ1S_GRID), 8, 8, { groups: 2 });
export const DEC_IQ4_NL = decoder('dec_iq4_nl', iq4nl, 1, 8);
export const DEC_IQ4_XS = decoder('dec_iq4_xs', iq4xs, 4, 16, { groups: 2, gemmChunkVec4s: 8, gemmGroups: 1 });

/** Helper snippets the decoders `#include` (the byte loaders, 2-bit code words, the Dq/Tq structs, K-quant scales, codebooks). */
const HELPER_SNIPPETS: Readonly<Record<string, string>> = {
  bytes: bytesWgsl,
  code_words: codeWordsWgsl,
  dq: dqWgsl,
  iq4nl: iq4nlWgsl,
  iq: iqWgsl,
  kscales: kscalesWgsl,
};

/** The `#include` snippets a kernel composed with `decoder` needs: the decoder, its helpers and its block_at. */
export function decoderSnippets(d: GpuDecoder): Record<string, string> {
  return { ...HELPER_SNIPPETS, block_at: d.rowLayout?.blockAtWgsl ?? LINEAR_BLOCK_AT, [d.snippet]: d.source };
}

/** Elements per "block" for float types: the largest of 32, 16, 8, 4 dividing the row (0 if none). */
export function floatBlock(cols: number): number {
  for (const b of [32, 16, 8, 4]) if (cols % b === 0) return b;
  return 0;
}

/**
 * The chunk a kernel decodes at a time: the decoder's own (`geo.chunkVec4s`), or for the tiled GEMM
 * its smaller one where it has one; vec4s, chunks per block and scale groups per chunk.
 */
export function kernelChunk(d: GpuDecoder, geo: BlockGeometry, gemm: boolean): { vec4s: number; perBlock: number; groups: number } {
  if (!gemm || geo.gemmChunkVec4s === geo.chunkVec4s) return { vec4s: geo.chunkVec4s, perBlock: d.chunksPerBlock, groups: d.groups };
  return {
    vec4s: geo.gemmChunkVec4s,
    perBlock: (d.chunksPerBlock * geo.chunkVec4s) / geo.gemmChunkVec4s,
    groups: d.gemmGroups ?? d.groups,
  };
}

/** Block geometry of a decoder for rows of `cols` elements. */
export interface BlockGeometry {
  blockElems: number;
  blockBytes: number;
  /** Blocks (and so rows) are 4-byte aligned: words load directly. */
  aligned: boolean;
  /** Bytes of one row of `cols` elements in the GPU buffers (the decoder's row layout, if it has one). */
  rowBytes: number;
  /** vec4s per chunk. */
  chunkVec4s: number;
  /** vec4s per chunk in the tiled GEMM (GpuDecoder.gemmChunkVec4s, else chunkVec4s). */
  gemmChunkVec4s: number;
  usesW4: boolean;
}

/**
 * The block a kernel thread walks for rows of `cols` elements. Float types group floatBlock(cols)
 * elements (16-byte loads from 8 halves up); other types take the layout's row multiple, so a
 * type that packs codes in larger groups than its block (I2_S: 128 values in 32 bytes) decodes
 * a whole group.
 */
export function gpuBlockGeometry(layout: QuantLayout, d: GpuDecoder, cols: number): BlockGeometry {
  if (d.float) {
    const fb = floatBlock(cols);
    const blockBytes = fb * layout.blockBytes;
    return {
      blockElems: fb,
      blockBytes,
      aligned: true,
      rowBytes: (cols / fb) * blockBytes,
      chunkVec4s: fb / 4,
      gemmChunkVec4s: fb / 4,
      usesW4: d.usesW4 || fb >= 8,
    };
  }
  const blockElems = layout.rowMultiple;
  const blockBytes = (blockElems / layout.blockSize) * layout.blockBytes;
  if (d.rowLayout)
    return {
      blockElems,
      blockBytes: d.rowLayout.blockBytes,
      aligned: true,
      rowBytes: d.rowLayout.rowBytes(cols),
      chunkVec4s: d.chunkVec4s,
      gemmChunkVec4s: d.gemmChunkVec4s ?? d.chunkVec4s,
      usesW4: d.usesW4,
    };
  return {
    blockElems,
    blockBytes,
    aligned: blockBytes % 4 === 0,
    rowBytes: (cols / blockElems) * blockBytes,
    chunkVec4s: d.chunkVec4s,
    gemmChunkVec4s: d.gemmChunkVec4s ?? d.chunkVec4s,
    usesW4: d.usesW4,
  };
}
