// Q4_K (144 bytes, 16-byte aligned): d:f16 dmin:f16 scales[12] qs[128]. Chunk c = sub-blocks 2c
// (low nibbles of qs[32c ..]) and 2c + 1 (high nibbles), one activation block each; value =
// d·sc·q − dmin·m, so Σ w·x = d·sc·dx·Σ q·qx − dmin·m·s per sub-block.
#include "kscales"
const QK: u32 = 256u;
const QB: u32 = 144u;
const NCH: u32 = 4u;
fn xblock(c: u32, k: u32) -> u32 { return 2u * c + k; }
// (d, dmin), the two sub-blocks' (scale, min) and nibbles: SWAR code fields, or as bytes (sub-block
// 0: a0 for elements 0..15, b0 for 16..31; sub-block 1: a1, b1).
struct Wq8 {
  dd: vec2<f32>,
  sm0: vec2<f32>,
  sm1: vec2<f32>,
#if SWAR
  s0: SwarCodes,
  s1: SwarCodes,
#else
  a0: vec4<u32>,
  b0: vec4<u32>,
  a1: vec4<u32>,
  b1: vec4<u32>,
#endif
}
fn unpack_q8(bo: u32, c: u32) -> Wq8 {
  let b4 = bo >> 4u;
  let h = W4[b4];
  let qa = W4[b4 + 1u + 2u * c];
  let qb = W4[b4 + 2u + 2u * c];
  var w: Wq8;
  w.dd = half2(h.x);
  w.sm0 = scale_min_k4(h, 2u * c);
  w.sm1 = scale_min_k4(h, 2u * c + 1u);
#if SWAR
  w.s0 = swar_codes(qa, 0u, qb, 0u, 0x000f000fu);
  w.s1 = swar_codes(qa, 4u, qb, 4u, 0x000f000fu);
#else
  let m = vec4<u32>(0x0f0f0f0fu);
  let n4 = vec4<u32>(4u);
  w.a0 = qa & m;
  w.b0 = qb & m;
  w.a1 = (qa >> n4) & m;
  w.b1 = (qb >> n4) & m;
#endif
  return w;
}
fn dot_unpacked(w: Wq8, x: Xq8) -> f32 {
#if SWAR
  let i0 = swar_dot(w.s0, x.e0, x.e1, x.o0, x.o1);
  let i1 = swar_dot(w.s1, x.e2, x.e3, x.o2, x.o3);
#else
  let i0 = idot(w.a0, x.w0) + idot(w.b0, x.w1);
  let i1 = idot(w.a1, x.w2) + idot(w.b1, x.w3);
#endif
  return w.dd.x * (w.sm0.x * x.d0 * f32(i0) + w.sm1.x * x.d1 * f32(i1)) - w.dd.y * (w.sm0.y * x.s0 + w.sm1.y * x.s1);
}
