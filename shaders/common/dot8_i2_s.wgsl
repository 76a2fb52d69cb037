// I2_S (BitNet): 128-element blocks of 32 bytes; byte g holds elements g, 32+g, 64+g, 96+g in
// bits 7:6, 5:4, 3:2, 1:0 (layout as in dec_i2_s.wgsl). Plane L (bits 6 − 2L) is activation
// block L, its codes − 1 the int8 weights; the per-tensor scale is applied per row by the kernel.
const QK: u32 = 128u;
const QB: u32 = 32u;
const NCH: u32 = 1u;
fn xblock(c: u32, k: u32) -> u32 { return k; }
// Plane L's codes: SWAR code fields (s{L}; the −1 is folded in with Σx), or the int8 weights
// (a{L}: elements 0..15 of the activation block, b{L}: 16..31).
struct Wq8 {
#for L in 0..4
#if SWAR
  s{{L}}: SwarCodes,
#else
  a{{L}}: vec4<u32>,
  b{{L}}: vec4<u32>,
#endif
#endfor
}
fn unpack_q8(bo: u32, c: u32) -> Wq8 {
  let qa = W4[bo >> 4u];
  let qb = W4[(bo >> 4u) + 1u];
  let m = vec4<u32>(0x03030303u);
  var w: Wq8;
#for L in 0..4
#if SWAR
  w.s{{L}} = swar_codes(qa, {{6 - 2 * L}}u, qb, {{6 - 2 * L}}u, 0x00030003u);
#else
  w.a{{L}} = sub_bytes((qa >> vec4<u32>({{6 - 2 * L}}u)) & m, 1u);
  w.b{{L}} = sub_bytes((qb >> vec4<u32>({{6 - 2 * L}}u)) & m, 1u);
#endif
#endfor
  return w;
}
fn dot_unpacked(w: Wq8, x: Xq8) -> f32 {
  var r = 0.0;
#for L in 0..4
#if SWAR
  r += x.d{{L}} * f32(swar_dot(w.s{{L}}, x.e{{2 * L}}, x.e{{2 * L + 1}}, x.o{{2 * L}}, x.o{{2 * L + 1}}) - x.n{{L}});
#else
  r += x.d{{L}} * f32(idot(w.a{{L}}, x.w{{2 * L}}) + idot(w.b{{L}}, x.w{{2 * L + 1}}));
#endif
#endfor
  return r;
}
