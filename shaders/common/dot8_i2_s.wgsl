// I2_S (BitNet): 128-element blocks of 32 bytes; byte g holds elements g, 32+g, 64+g, 96+g in
// bits 7:6, 5:4, 3:2, 1:0 (layout as in dec_i2_s.wgsl). Plane L (bits 6 − 2L) is activation
// block L, its codes − 1 the int8 weights; the per-tensor scale is applied per row by the kernel.
const QK: u32 = 128u;
const QB: u32 = 32u;
const NCH: u32 = 1u;
fn xblock(c: u32, k: u32) -> u32 { return k; }
fn dot_q8(bo: u32, c: u32, x: Xq8) -> f32 {
  let qa = W4[bo >> 4u];
  let qb = W4[(bo >> 4u) + 1u];
  let m = vec4<u32>(0x03030303u);
  var r = 0.0;
#for L in 0..4
#if SWAR
  r += x.d{{L}} * f32(swar_dot(qa, {{6 - 2 * L}}u, qb, {{6 - 2 * L}}u, 0x00030003u, x.e{{2 * L}}, x.e{{2 * L + 1}}, x.o{{2 * L}}, x.o{{2 * L + 1}}).x - x.n{{L}});
#else
  r += x.d{{L}} * f32(idot(sub_bytes((qa >> vec4<u32>({{6 - 2 * L}}u)) & m, 1u), x.w{{2 * L}}) +
                      idot(sub_bytes((qb >> vec4<u32>({{6 - 2 * L}}u)) & m, 1u), x.w{{2 * L + 1}}));
#endif
#endfor
  return r;
}
