// Q2_K (84 bytes, word aligned): scales[16] qs[64] d:f16 dmin:f16. Element e = 128h + 32j + 16s + l
// has q = (qs[32h + 16s + l] >> 2j) & 3 and 4-bit scale/min byte scales[e / 16]
// (value = d·(sc & 15)·q − dmin·(sc >> 4)). Chunk c = 32 elements = (h, j) = (c / 4, c % 4),
// scale bytes 2c and 2c + 1.
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 84u;
const NCH: u32 = 8u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * c + 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let wi = bo >> 2u;
  let dd = half2(W[wi + 20u]);
  let scw = W[wi + (c >> 1u)] >> ((c & 1u) << 4u);
  let a0 = dd.x * f32(scw & 15u);
  let m0 = -dd.y * f32((scw >> 4u) & 15u);
  let a1 = dd.x * f32((scw >> 8u) & 15u);
  let m1 = -dd.y * f32((scw >> 12u) & 15u);
  let qo = wi + 4u + 8u * (c >> 2u);
  let sh = 2u * (c & 3u);
  var r: Dq;
  r.a = vec4<f32>(a0, a1, 0.0, 0.0);
  r.m = vec4<f32>(m0, m1, 0.0, 0.0);
#for K in 0..8
  r.v{{K}} = vec4<f32>(bytes_field(W[qo + {{K}}u], sh, 3u));
#endfor
  return r;
}
