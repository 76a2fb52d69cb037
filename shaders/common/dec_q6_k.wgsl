// Q6_K (210 bytes): ql[128] qh[64] scales: int8[16] d:f16. Element e = 128h + 32g + 16s + l:
// q = (nibble g >> 1 of ql[64h + 32(g & 1) + 16s + l]) | ((qh[32h + 16s + l] >> 2g) & 3) << 4,
// value = d·scales[e / 16]·(q − 32). Chunk c = (h, p) = (c / 2, c % 2) takes g = p and g = p + 2,
// the two nibbles of the 32 bytes ql[64h + 32p ..] and bits 2p, 2p + 4 of qh[32h ..]: each byte
// is loaded once per chunk. Its 64 elements are two runs of 32 (at 32p and 32p + 64).
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 210u;
const NCH: u32 = 4u;
fn chunk_x(c: u32, i: u32) -> u32 { return 128u * (c >> 1u) + 32u * (c & 1u) + 64u * (i >> 3u) + 4u * (i & 7u); }
fn i8f(b: u32) -> f32 { return f32((bitcast<i32>(b) << 24u) >> 24u); }
fn decode_q(bo: u32, c: u32) -> Dq {
  let h = c >> 1u;
  let p = c & 1u;
  let d = ldf16(bo + 208u);
  // scales[8h + 2p + {0, 1}] (g = p) and [8h + 2p + 4 + {0, 1}] (g = p + 2).
  let s01 = ld16(bo + 192u + 8u * h + 2u * p);
  let s45 = ld16(bo + 196u + 8u * h + 2u * p);
  let a0 = d * i8f(s01 & 255u);
  let a1 = d * i8f(s01 >> 8u);
  let a2 = d * i8f(s45 & 255u);
  let a3 = d * i8f(s45 >> 8u);
  let li = (bo + 64u * h + 32u * p) >> 2u;
  let hi = (bo + 128u + 32u * h) >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..9
  let l{{K}} = W[li + {{K}}u];
  let u{{K}} = W[hi + {{K}}u];
#endfor
  var r: Dq;
  // Groups of 16: v0..3 and v4..7 (g = p, s = 0, 1), v8..11 and v12..15 (g = p + 2); q − 32.
  r.a = vec4<f32>(a0, a1, a2, a3);
  r.m = -32.0 * r.a;
#for K in 0..8
  let ql{{K}} = funnel(l{{K}}, l{{K + 1}}, sh);
  let qh{{K}} = funnel(u{{K}}, u{{K + 1}}, sh);
  r.v{{K}} = vec4<f32>(bytes_field(ql{{K}}, 0u, 15u) | (bytes_field(qh{{K}}, 2u * p, 3u) << vec4<u32>(4u)));
  r.v{{K + 8}} = vec4<f32>(bytes_field(ql{{K}}, 4u, 15u) | (bytes_field(qh{{K}}, 2u * p + 4u, 3u) << vec4<u32>(4u)));
#endfor
  return r;
}
