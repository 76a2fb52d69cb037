// Q4_1 (20 bytes, word aligned): d:f16, m:f16, qs[16]; value = d·q + m, nibbles ordered as Q4_0.
// Σ (d·q + m)·x = d·dx·Σ q·qx + m·s (s = dx·Σqx, the activation block's sum).
const QK: u32 = 32u;
const QB: u32 = 20u;
const NCH: u32 = 1u;
fn xblock(c: u32, k: u32) -> u32 { return k; }
// (d, m) and the block's nibbles: SWAR code fields, or as bytes (lo: elements 0..15, hi: 16..31).
struct Wq8 {
  dm: vec2<f32>,
#if SWAR
  s: SwarCodes,
#else
  lo: vec4<u32>,
  hi: vec4<u32>,
#endif
}
fn unpack_q8(bo: u32, c: u32) -> Wq8 {
  let wi = bo >> 2u;
  let q = vec4<u32>(W[wi + 1u], W[wi + 2u], W[wi + 3u], W[wi + 4u]);
  var w: Wq8;
  w.dm = half2(W[wi]);
#if SWAR
  w.s = swar_codes(q, 0u, q, 4u, 0x000f000fu);
#else
  let m = vec4<u32>(0x0f0f0f0fu);
  w.lo = q & m;
  w.hi = (q >> vec4<u32>(4u)) & m;
#endif
  return w;
}
fn dot_unpacked(w: Wq8, x: Xq8) -> f32 {
#if SWAR
  return w.dm.x * x.d0 * f32(swar_dot(w.s, x.e0, x.e1, x.o0, x.o1)) + w.dm.y * x.s0;
#else
  return w.dm.x * x.d0 * f32(idot(w.lo, x.w0) + idot(w.hi, x.w1)) + w.dm.y * x.s0;
#endif
}
