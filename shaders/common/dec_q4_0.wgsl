// Q4_0 (18 bytes): d:f16, qs[16]; element j = (qs[j] & 15) − 8, element 16 + j = (qs[j] >> 4) − 8.
#include "dq"
const QK: u32 = 32u;
const QB: u32 = 18u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  let m = -8.0 * d;
  // qs: a run of 4 words at bo + 2 (5 loads when it straddles words).
  let wi = (bo + 2u) >> 2u;
  let sh = ((bo + 2u) & 3u) << 3u;
#for K in 0..5
  let a{{K}} = W[wi + {{K}}u];
#endfor
  var r: Dq;
  r.a = vec4<f32>(d);
  r.m = vec4<f32>(m);
#for K in 0..4
  let q{{K}} = funnel(a{{K}}, a{{K + 1}}, sh);
  r.v{{K}} = vec4<f32>(bytes_field(q{{K}}, 0u, 15u));
  r.v{{K + 4}} = vec4<f32>(bytes_field(q{{K}}, 4u, 15u));
#endfor
  return r;
}
