// Q4_1 (20 bytes, word aligned): d:f16, m:f16, qs[16]; value = d·q + m, nibbles ordered as Q4_0.
// Σ (d·q + m)·x = d·dx·Σ q·qx + m·s (s = dx·Σqx, the activation block's sum).
const QK: u32 = 32u;
const QB: u32 = 20u;
const NCH: u32 = 1u;
fn xblock(c: u32, k: u32) -> u32 { return k; }
fn dot_q8(bo: u32, c: u32, x: Xq8) -> f32 {
  let wi = bo >> 2u;
  let dm = half2(W[wi]);
  let q = vec4<u32>(W[wi + 1u], W[wi + 2u], W[wi + 3u], W[wi + 4u]);
#if SWAR
  return dm.x * x.d0 * f32(swar_dot(q, 0u, q, 4u, 0x000f000fu, x.e0, x.e1, x.o0, x.o1).x) + dm.y * x.s0;
#else
  let m = vec4<u32>(0x0f0f0f0fu);
  return dm.x * x.d0 * f32(idot(q & m, x.w0) + idot((q >> vec4<u32>(4u)) & m, x.w1)) + dm.y * x.s0;
#endif
}
