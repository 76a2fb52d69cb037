// Q5_0 (22 bytes): d:f16, qh:u32, qs[16]; element e's 5th bit is bit e of qh; value = d·(q − 16).
#include "dq"
const QK: u32 = 32u;
const QB: u32 = 22u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  let m = -16.0 * d;
  // qh and qs: a run of 5 words at bo + 2.
  let wi = (bo + 2u) >> 2u;
  let sh = ((bo + 2u) & 3u) << 3u;
#for K in 0..6
  let a{{K}} = W[wi + {{K}}u];
#endfor
  let qh = funnel(a0, a1, sh);
  var r: Dq;
  r.a = vec4<f32>(d);
  r.m = vec4<f32>(m);
#for K in 0..4
  let q{{K}} = funnel(a{{K + 1}}, a{{K + 2}}, sh);
  let hlo{{K}} = (vec4<u32>(qh) >> vec4<u32>({{K * 4}}u, {{K * 4 + 1}}u, {{K * 4 + 2}}u, {{K * 4 + 3}}u)) & vec4<u32>(1u);
  let hhi{{K}} = (vec4<u32>(qh) >> vec4<u32>({{K * 4 + 16}}u, {{K * 4 + 17}}u, {{K * 4 + 18}}u, {{K * 4 + 19}}u)) & vec4<u32>(1u);
  r.v{{K}} = vec4<f32>(bytes_field(q{{K}}, 0u, 15u) | (hlo{{K}} << vec4<u32>(4u)));
  r.v{{K + 4}} = vec4<f32>(bytes_field(q{{K}}, 4u, 15u) | (hhi{{K}} << vec4<u32>(4u)));
#endfor
  return r;
}
