// Q4_0 (18 bytes): d:f16, qs[16]; element j = (qs[j] & 15) − 8, element 16 + j = (qs[j] >> 4) − 8:
// the low nibbles are the block's first 16 int8, the high nibbles its last 16, each minus 8.
const QK: u32 = 32u;
const QB: u32 = 18u;
const NCH: u32 = 1u;
fn xblock(c: u32, k: u32) -> u32 { return k; }
// The scale and the block's codes: with SWAR the nibbles (the −8 is folded in with Σx), else the
// int8 weights (lo: elements 0..15, hi: 16..31).
struct Wq8 {
  d: f32,
#if SWAR
  s: SwarCodes,
#else
  lo: vec4<u32>,
  hi: vec4<u32>,
#endif
}
fn unpack_q8(bo: u32, c: u32) -> Wq8 {
  let wi = (bo + 2u) >> 2u;
  let sh = ((bo + 2u) & 3u) << 3u;
#for K in 0..5
  let a{{K}} = W[wi + {{K}}u];
#endfor
  let q = vec4<u32>(funnel(a0, a1, sh), funnel(a1, a2, sh), funnel(a2, a3, sh), funnel(a3, a4, sh));
  var w: Wq8;
  w.d = ldf16(bo);
#if SWAR
  w.s = swar_codes(q, 0u, q, 4u, 0x000f000fu);
#else
  let m = vec4<u32>(0x0f0f0f0fu);
  w.lo = sub_bytes(q & m, 8u);
  w.hi = sub_bytes((q >> vec4<u32>(4u)) & m, 8u);
#endif
  return w;
}
fn dot_unpacked(w: Wq8, x: Xq8) -> f32 {
#if SWAR
  return w.d * x.d0 * f32(swar_dot(w.s, x.e0, x.e1, x.o0, x.o1) - 8 * x.n0);
#else
  return w.d * x.d0 * f32(idot(w.lo, x.w0) + idot(w.hi, x.w1));
#endif
}
