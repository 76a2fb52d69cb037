// Q4_K (144 bytes, 16-byte aligned): d:f16 dmin:f16 scales[12] qs[128]. Chunk c = sub-blocks 2c
// (low nibbles of qs[32c ..]) and 2c + 1 (high nibbles), one activation block each; value =
// d·sc·q − dmin·m, so Σ w·x = d·sc·dx·Σ q·qx − dmin·m·s per sub-block.
#include "kscales"
const QK: u32 = 256u;
const QB: u32 = 144u;
const NCH: u32 = 4u;
fn xblock(c: u32, k: u32) -> u32 { return 2u * c + k; }
fn dot_q8(bo: u32, c: u32, x: Xq8) -> f32 {
  let b4 = bo >> 4u;
  let h = W4[b4];
  let dd = half2(h.x);
  let sm0 = scale_min_k4(h, 2u * c);
  let sm1 = scale_min_k4(h, 2u * c + 1u);
  let qa = W4[b4 + 1u + 2u * c];
  let qb = W4[b4 + 2u + 2u * c];
#if SWAR
  let i0 = swar_dot(qa, 0u, qb, 0u, 0x000f000fu, x.e0, x.e1, x.o0, x.o1).x;
  let i1 = swar_dot(qa, 4u, qb, 4u, 0x000f000fu, x.e2, x.e3, x.o2, x.o3).x;
#else
  let m = vec4<u32>(0x0f0f0f0fu);
  let n4 = vec4<u32>(4u);
  let i0 = idot(qa & m, x.w0) + idot(qb & m, x.w1);
  let i1 = idot((qa >> n4) & m, x.w2) + idot((qb >> n4) & m, x.w3);
#endif
  return dd.x * (sm0.x * x.d0 * f32(i0) + sm1.x * x.d1 * f32(i1)) - dd.y * (sm0.y * x.s0 + sm1.y * x.s1);
}
