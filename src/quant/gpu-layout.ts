/**
 * GPU row layouts that differ from the file's: a type whose GGUF blocks are badly aligned for the
 * decoders is rewritten at load time, row by row, into a layout they read with aligned 16-byte
 * loads. A layout belongs to the type's GPU decoder (gpu-decoders.ts), so the quant table entry
 * owns it; the loader, uploadWeight and the memory estimate ask the entry (gpuRowBytes,
 * toGpuRows) and the kernels ask the decoder's geometry (rowBytes) and its `block_at` snippet.
 *
 * Rows stay contiguous runs of rowBytes bytes in the GPU layout, so everything that works on
 * whole rows (row parts, row concatenation of Q/K/V and gate/up, the embedding's row lookup, a
 * GLU's up rows) is unchanged. Why and what it gains is measured in docs/kernels.md.
 */
import { f16Table } from './cpu/float.ts';

export interface GpuRowLayout {
  /** Name, for messages and tests. */
  readonly name: string;
  /** Bytes of one GPU row of `cols` elements (a multiple of 16: rows start 16-byte aligned). */
  rowBytes(cols: number): number;
  /**
   * A row's segments that start at a multiple of this many elements repack like rows of their
   * own (same bytes, same order), so the streaming loader can repack a row piece by piece.
   */
  readonly segmentElems: number;
  /** Bytes the kernels step between a block's codes (the decoder's QB): its code bytes, scales apart. */
  readonly blockBytes: number;
  /** Rewrites `nRows` whole rows from the file layout (`src`, at least nRows file rows) into `dst` (nRows GPU rows). */
  repack(src: Uint8Array, cols: number, nRows: number, dst: Uint8Array): void;
  /**
   * WGSL `fn block_at(rb: u32, b: u32) -> u32`: the handle the decoder takes for block b of the
   * row starting at byte rb (kernels include it as the "block_at" snippet).
   */
  readonly blockAtWgsl: string;
}

/** The default `block_at`: blocks QB bytes apart from the row's start, as GGUF stores them. */
export const LINEAR_BLOCK_AT = 'fn block_at(rb: u32, b: u32) -> u32 { return rb + b * QB; }\n';

const QK_K = 256;
const TQ2_0_BLOCK = 66;
const TQ2_0_CODES = 64;
/** Blocks per group: one 16-byte word of f32 scales, then their codes. */
const GROUP_BLOCKS = 4;
const GROUP_BYTES = 16 + GROUP_BLOCKS * TQ2_0_CODES;

/**
 * TQ2_0 in groups of 4 blocks, so its codes load as aligned 16-byte words and its scale is one
 * f32 load (the GGUF block is 66 bytes: 2-byte aligned, with an f16 scale).
 *
 * A row of nb = cols/256 blocks is ⌈nb/4⌉ groups; group g (blocks 4g … 4g + n − 1, n ≤ 4) is
 * 16 + 64n bytes: the n block scales as f32 (the f16 d widened, exact; unused slots 0), then the
 * n blocks' qs[64], byte for byte. Row bytes = 64·nb + 16·⌈nb/4⌉, a multiple of 16: 68 bytes per
 * block (+3%) when nb is a multiple of 4. A block's handle is its group's byte offset (16-byte
 * aligned) with the block's index in the group in the low bits.
 */
export const TQ2_0_GROUPED: GpuRowLayout = {
  name: 'TQ2_0 grouped (4 blocks: f32 scales, then codes)',
  segmentElems: GROUP_BLOCKS * QK_K,
  blockBytes: TQ2_0_CODES,
  rowBytes: (cols) => {
    const nb = Math.ceil(cols / QK_K);
    return nb * TQ2_0_CODES + 16 * Math.ceil(nb / GROUP_BLOCKS);
  },
  repack(src, cols, nRows, dst) {
    const nb = cols / QK_K;
    const inRow = nb * TQ2_0_BLOCK;
    const outRow = TQ2_0_GROUPED.rowBytes(cols);
    if (!Number.isInteger(nb) || src.length < nRows * inRow || dst.length < nRows * outRow) {
      throw new RangeError(`TQ2_0 repack: ${nRows} rows of ${cols} need ${nRows * inRow} → ${nRows * outRow} bytes`);
    }
    const f16 = f16Table();
    const scales = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
    dst.fill(0, 0, nRows * outRow);
    for (let r = 0; r < nRows; r++) {
      for (let b = 0; b < nb; b++) {
        const i = r * inRow + b * TQ2_0_BLOCK;
        const group = r * outRow + (b >> 2) * GROUP_BYTES;
        const j = b & (GROUP_BLOCKS - 1);
        dst.set(src.subarray(i, i + TQ2_0_CODES), group + 16 + j * TQ2_0_CODES);
        scales.setFloat32(group + 4 * j, f16[src[i + 64]! | (src[i + 65]! << 8)]!, true);
      }
    }
  },
  blockAtWgsl: `fn block_at(rb: u32, b: u32) -> u32 { return rb + ${GROUP_BYTES}u * (b >> 2u) + (b & 3u); }\n`,
};
