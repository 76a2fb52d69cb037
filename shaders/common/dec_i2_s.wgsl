// I2_S (BitNet): 128-element blocks of 32 bytes; byte g holds elements g, 32+g, 64+g, 96+g in
// bits 7:6, 5:4, 3:2, 1:0 (most significant first). Code 0/1/2 = −1/0/+1 times the per-tensor
// scale, applied once per output row by the kernel (part.scale). One chunk = the block: two
// 16-byte loads, four 2-bit planes.
#include "dq"
const QK: u32 = 128u;
const QB: u32 = 32u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode_t(bo: u32, c: u32) -> Tq {
  var r: Tq;
  r.d = 1.0;
  let qa = W4[bo >> 4u];
  let qb = W4[(bo >> 4u) + 1u];
  let q = array<u32, 8>(qa.x, qa.y, qa.z, qa.w, qb.x, qb.y, qb.z, qb.w);
  var any3 = 0u;
#for K in 0..8
  any3 |= q[{{K}}] & (q[{{K}}] >> 1u);
#for L in 0..4
  r.c{{L * 8 + K}} = bytes_field(q[{{K}}], {{6 - L * 2}}u, 3u);
#endfor
#endfor
  r.has3 = (any3 & 0x55555555u) != 0u;
  return r;
}
