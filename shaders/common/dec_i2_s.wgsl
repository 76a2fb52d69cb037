// I2_S (BitNet): 128-element blocks of 32 bytes; byte g holds elements g, 32+g, 64+g, 96+g in
// bits 7:6, 5:4, 3:2, 1:0 (most significant first), so code word k holds elements 32l + 4k … +3
// of each 2-bit plane l. Code 0/1/2 = −1/0/+1 times the per-tensor scale, applied once per output
// row by the kernel (part.scale).
// A chunk is KW = CW/4 consecutive code words, all four planes: CW = 32 (the block, two 16-byte
// loads) for the mat-vec and the embedding, CW = 8 (two words) for the tiled GEMM, whose unrolled
// work per chunk grows with CW (gpu-decoders.ts gemmChunkVec4s). Vec4 i is plane i / KW, word
// i % KW of the chunk.
#include "dq"
#include "code_words"
const QK: u32 = 128u;
const QB: u32 = 32u;
const KW: u32 = {{CW / 4}}u;
const NCH: u32 = {{32 / CW}}u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * (i / KW) + 4u * (c * KW + i % KW); }
fn decode_t(bo: u32, c: u32) -> Tq {
  var r: Tq;
  r.d = 1.0;
  let w0 = (bo >> 2u) + KW * c;
  let q = code_words(w0);
  var any3 = 0u;
#for K in 0..{{CW / 4}}
  any3 |= q[{{K}}] & (q[{{K}}] >> 1u);
#for L in 0..4
  r.c{{L * CW / 4 + K}} = bytes_field(q[{{K}}], {{6 - L * 2}}u, 3u);
#endfor
#endfor
  r.has3 = (any3 & 0x55555555u) != 0u;
  return r;
}
