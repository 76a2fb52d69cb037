// TQ2_0, repacked at load time into groups of 4 blocks (src/quant/gpu-layout.ts, TQ2_0_GROUPED):
// a group is the blocks' scales as f32 (one 16-byte word), then each block's qs[64] as GGUF
// stores them, so every load is aligned. The block handle `bo` (block_at) is the group's byte
// offset, 16-byte aligned, plus the block's index j in the group. Element e = 128c + 32l + m of a
// block has code (qs[32c + m] >> 2l) & 3, weight (code − 1)·d. Chunk c = qs[32c ..], two 16-byte
// loads, all four 2-bit planes: word k gives 4 consecutive elements 32l + 4k .. of each plane l.
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 64u;
const NCH: u32 = 2u;
fn chunk_x(c: u32, i: u32) -> u32 { return 128u * c + 32u * (i >> 3u) + 4u * (i & 7u); }
fn decode_t(bo: u32, c: u32) -> Tq {
  var r: Tq;
  let g = bo & ~15u;
  let j = bo & 15u;
  r.d = bitcast<f32>(W[(g >> 2u) + j]);
  let wi = (g >> 4u) + 1u + 4u * j + 2u * c;
  let qa = W4[wi];
  let qb = W4[wi + 1u];
  let q = array<u32, 8>(qa.x, qa.y, qa.z, qa.w, qb.x, qb.y, qb.z, qb.w);
  var any3 = 0u;
#for K in 0..8
  any3 |= q[{{K}}] & (q[{{K}}] >> 1u);
#for L in 0..4
  r.c{{L * 8 + K}} = bytes_field(q[{{K}}], {{L * 2}}u, 3u);
#endfor
#endfor
  r.has3 = (any3 & 0x55555555u) != 0u;
  return r;
}
