// Q3_K (110 bytes): hmask[32] qs[64] scales[12] d:f16. Element e = 128h + 32j + 16s + l:
// q = ((qs[32h + 16s + l] >> 2j) & 3) − (bit 4h + j of hmask[16s + l] clear ? 4 : 0),
// value = d·(scale[e / 16] − 32)·q, with 6-bit scale k = nibble (k / 8) of scales[k % 8] | bits
// 2·(k / 4)..+1 of scales[8 + k % 4] on top. Chunk c = 32 elements = (h, j) = (c / 4, c % 4).
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 110u;
const NCH: u32 = 8u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * c + 4u * i; }
fn q3_scale(bo: u32, k: u32) -> f32 {
  let lo = (ld8(bo + 96u + (k & 7u)) >> (4u * (k >> 3u))) & 15u;
  let hi = (ld8(bo + 104u + (k & 3u)) >> (2u * (k >> 2u))) & 3u;
  return f32(i32(lo | (hi << 4u)) - 32);
}
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo + 108u);
  let a0 = d * q3_scale(bo, 2u * c);
  let a1 = d * q3_scale(bo, 2u * c + 1u);
  let h = c >> 2u;
  let j = c & 3u;
  // hmask (8 words at bo) and this h's 8 words of qs (at bo + 32 + 32h): runs of 8.
  let mi = bo >> 2u;
  let qi = (bo + 32u + 32u * h) >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..9
  let m{{K}} = W[mi + {{K}}u];
  let a{{K}}_ = W[qi + {{K}}u];
#endfor
  var r: Dq;
  // q − 4 (high bit clear) or q: value = a·(q + 4·hbit) − 4a.
  r.a = vec4<f32>(a0, a1, 0.0, 0.0);
  r.m = vec4<f32>(-4.0 * a0, -4.0 * a1, 0.0, 0.0);
#for K in 0..8
  let low{{K}} = bytes_field(funnel(a{{K}}_, a{{K + 1}}_, sh), 2u * j, 3u);
  let hb{{K}} = bytes_field(funnel(m{{K}}, m{{K + 1}}, sh), 4u * h + j, 1u);
  r.v{{K}} = vec4<f32>(low{{K}} | (hb{{K}} << vec4<u32>(2u)));
#endfor
  return r;
}
