// Q4_K (144 bytes = 9 × 16, so blocks are 16-byte aligned): d:f16 dmin:f16 scales[12] qs[128].
// Chunk c (64 elements) = sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles) of the 32 bytes
// qs[32c ..]; value = d·sc·q − dmin·m with 6-bit (sc, m) of sub-block j packed as ggml's
// get_scale_min_k4: j < 4: s[j] & 63, s[j+4] & 63; else (s[j+4] & 15) | (s[j−4] >> 6) << 4,
// (s[j+4] >> 4) | (s[j] >> 6) << 4. One 16-byte load holds d, dmin and all 12 scale bytes.
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 144u;
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
  let qa = W4[b4 + 1u + 2u * c];
  let qb = W4[b4 + 2u + 2u * c];
  let q = array<u32, 8>(qa.x, qa.y, qa.z, qa.w, qb.x, qb.y, qb.z, qb.w);
  var r: Dq;
  r.a = vec4<f32>(a0, a1, 0.0, 0.0);
  r.m = vec4<f32>(m0, m1, 0.0, 0.0);
#for K in 0..8
  r.v{{K}} = vec4<f32>(bytes_field(q[{{K}}], 0u, 15u));
  r.v{{K + 8}} = vec4<f32>(bytes_field(q[{{K}}], 4u, 15u));
#endfor
  return r;
}
