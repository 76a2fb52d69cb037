// Q5_1 (24 bytes, word aligned): d:f16, m:f16, qh:u32, qs[16]; value = d·q + m (5-bit q as Q5_0).
#include "dq"
const QK: u32 = 32u;
const QB: u32 = 24u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let wi = bo >> 2u;
  let dm = half2(W[wi]);
  let qh = W[wi + 1u];
  var r: Dq;
  r.a = vec4<f32>(dm.x);
  r.m = vec4<f32>(dm.y);
#for K in 0..4
  let q{{K}} = W[wi + {{K + 2}}u];
  let hlo{{K}} = (vec4<u32>(qh) >> vec4<u32>({{K * 4}}u, {{K * 4 + 1}}u, {{K * 4 + 2}}u, {{K * 4 + 3}}u)) & vec4<u32>(1u);
  let hhi{{K}} = (vec4<u32>(qh) >> vec4<u32>({{K * 4 + 16}}u, {{K * 4 + 17}}u, {{K * 4 + 18}}u, {{K * 4 + 19}}u)) & vec4<u32>(1u);
  r.v{{K}} = vec4<f32>(bytes_field(q{{K}}, 0u, 15u) | (hlo{{K}} << vec4<u32>(4u)));
  r.v{{K + 4}} = vec4<f32>(bytes_field(q{{K}}, 4u, 15u) | (hhi{{K}} << vec4<u32>(4u)));
#endfor
  return r;
}
