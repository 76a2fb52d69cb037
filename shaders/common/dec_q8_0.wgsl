// Q8_0 (34 bytes): d:f16, qs: int8[32]; value = d·q.
#include "dq"
const QK: u32 = 32u;
const QB: u32 = 34u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  // qs: a run of 8 words at bo + 2.
  let wi = (bo + 2u) >> 2u;
  let sh = ((bo + 2u) & 3u) << 3u;
#for K in 0..9
  let a{{K}} = W[wi + {{K}}u];
#endfor
  var r: Dq;
  r.a = vec4<f32>(d);
#for K in 0..8
  r.v{{K}} = i8x4(funnel(a{{K}}, a{{K + 1}}, sh));
#endfor
  return r;
}
