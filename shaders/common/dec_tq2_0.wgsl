// TQ2_0, repacked at load time into groups of 4 blocks (src/quant/gpu-layout.ts, TQ2_0_GROUPED):
// a group is the blocks' scales as f32 (one 16-byte word), then each block's qs[64] as GGUF
// stores them, so every load is aligned. The block handle `bo` (block_at) is the group's byte
// offset, 16-byte aligned, plus the block's index j in the group. Element e = 128h + 32l + m of a
// block has code (qs[32h + m] >> 2l) & 3, weight (code − 1)·d: code word k of half h (bytes
// 32h + 4k …) holds elements 32l + 4k … +3 of each 2-bit plane l.
// A chunk is KW = CW/4 consecutive code words, all four planes: CW = 32 (a half-block, two 16-byte
// loads) for the mat-vec and the embedding, CW = 8 (two words) for the tiled GEMM, whose unrolled
// work per chunk grows with CW (gpu-decoders.ts gemmChunkVec4s). Vec4 i is plane i / KW, word
// i % KW of the chunk.
#include "dq"
#include "code_words"
const QK: u32 = 256u;
const QB: u32 = 64u;
const KW: u32 = {{CW / 4}}u;
const NCH: u32 = {{64 / CW}}u;
fn chunk_x(c: u32, i: u32) -> u32 {
  let w = c * KW;
  return 128u * (w >> 3u) + 32u * (i / KW) + 4u * ((w & 7u) + i % KW);
}
fn decode_t(bo: u32, c: u32) -> Tq {
  var r: Tq;
  let g = bo & ~15u;
  let j = bo & 15u;
  r.d = bitcast<f32>(W[(g >> 2u) + j]);
  // The chunk's first code word: past the group's scale word and block j's 16 words, c·KW on.
  let w0 = (g >> 2u) + 4u + 16u * j + KW * c;
  let q = code_words(w0);
  var any3 = 0u;
#for K in 0..{{CW / 4}}
  any3 |= q[{{K}}] & (q[{{K}}] >> 1u);
#for L in 0..4
  r.c{{L * CW / 4 + K}} = bytes_field(q[{{K}}], {{L * 2}}u, 3u);
#endfor
#endfor
  r.has3 = (any3 & 0x55555555u) != 0u;
  return r;
}
