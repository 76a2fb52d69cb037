// Q4_1 (20 bytes, word aligned): d:f16, m:f16, qs[16]; value = d·q + m, nibbles ordered as Q4_0.
#include "dq"
const QK: u32 = 32u;
const QB: u32 = 20u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let wi = bo >> 2u;
  let dm = half2(W[wi]);
  var r: Dq;
  r.a = vec4<f32>(dm.x);
  r.m = vec4<f32>(dm.y);
#for K in 0..4
  let q{{K}} = W[wi + {{K + 1}}u];
  r.v{{K}} = vec4<f32>(bytes_field(q{{K}}, 0u, 15u));
  r.v{{K + 4}} = vec4<f32>(bytes_field(q{{K}}, 4u, 15u));
#endfor
  return r;
}
