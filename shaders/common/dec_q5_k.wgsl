// Q5_K (176 bytes = 11 × 16, 16-byte aligned): d dmin scales[12] qh[32] qs[128]. As Q4_K, plus a
// 5th bit: sub-block j takes bit j of qh[l]. Chunk c = sub-blocks 2c, 2c + 1 (64 elements).
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 176u;
const NCH: u32 = 4u;
fn chunk_x(c: u32, i: u32) -> u32 { return 64u * c + 4u * i; }
#include "kscales"
fn decode_q(bo: u32, c: u32) -> Dq {
  let b4 = bo >> 4u;
  let h = W4[b4];
  let dd = half2(h.x);
  let sm0 = scale_min_k4(h, 2u * c);
  let sm1 = scale_min_k4(h, 2u * c + 1u);
  let a0 = dd.x * sm0.x;
  let m0 = -dd.y * sm0.y;
  let a1 = dd.x * sm1.x;
  let m1 = -dd.y * sm1.y;
  let ha = W4[b4 + 1u];
  let hb = W4[b4 + 2u];
  let qa = W4[b4 + 3u + 2u * c];
  let qb = W4[b4 + 4u + 2u * c];
  let q = array<u32, 8>(qa.x, qa.y, qa.z, qa.w, qb.x, qb.y, qb.z, qb.w);
  let qh = array<u32, 8>(ha.x, ha.y, ha.z, ha.w, hb.x, hb.y, hb.z, hb.w);
  var r: Dq;
  r.a = vec4<f32>(a0, a1, 0.0, 0.0);
  r.m = vec4<f32>(m0, m1, 0.0, 0.0);
#for K in 0..8
  let lo{{K}} = bytes_field(q[{{K}}], 0u, 15u) | (bytes_field(qh[{{K}}], 2u * c, 1u) << vec4<u32>(4u));
  let hi{{K}} = bytes_field(q[{{K}}], 4u, 15u) | (bytes_field(qh[{{K}}], 2u * c + 1u, 1u) << vec4<u32>(4u));
  r.v{{K}} = vec4<f32>(lo{{K}});
  r.v{{K + 8}} = vec4<f32>(hi{{K}});
#endfor
  return r;
}
