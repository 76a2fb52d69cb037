// IQ4_NL (18 bytes): d:f16, qs[16]; element j = T[qs[j] & 15], element 16 + j = T[qs[j] >> 4], value
// = d·T[index] with T the fixed non-linear table kvalues_iq4nl. The codes handed to the kernels are
// the table's levels (integers, exact in f32), so a = d and there is no offset. Read like Q4_0.
#include "dq"
#include "iq4nl"
const QK: u32 = 32u;
const QB: u32 = 18u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  // qs: a run of 4 words at bo + 2 (5 loads when it straddles words).
  let wi = (bo + 2u) >> 2u;
  let sh = ((bo + 2u) & 3u) << 3u;
#for K in 0..5
  let a{{K}} = W[wi + {{K}}u];
#endfor
  var r: Dq;
  r.a = vec4<f32>(d);
#for K in 0..4
  let q{{K}} = funnel(a{{K}}, a{{K + 1}}, sh);
  r.v{{K}} = iq4nl_levels(bytes_field(q{{K}}, 0u, 15u));
  r.v{{K + 4}} = iq4nl_levels(bytes_field(q{{K}}, 4u, 15u));
#endfor
  return r;
}
