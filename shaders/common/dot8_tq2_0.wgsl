// TQ2_0 (66 bytes): qs[64] d:f16; element 128j + 32l + m has code (qs[32j + m] >> 2l) & 3 and
// weight (code − 1)·d (layout as in dec_tq2_0.wgsl). Chunk j = the 8 words qs[32j ..]: plane l
// of them is the activation block 4j + l, its codes − 1 the int8 weights (−1, 0, +1; the code 3
// no quantizer writes is +2, as in ggml). The only multiplies are the block scales.
const QK: u32 = 256u;
const QB: u32 = 66u;
const NCH: u32 = 2u;
fn xblock(c: u32, k: u32) -> u32 { return 4u * c + k; }
fn dot_q8(bo: u32, c: u32, x: Xq8) -> f32 {
  let d = ldf16(bo + 64u);
  let wi = (bo + 32u * c) >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..9
  let a{{K}} = W[wi + {{K}}u];
#endfor
  let qa = vec4<u32>(funnel(a0, a1, sh), funnel(a1, a2, sh), funnel(a2, a3, sh), funnel(a3, a4, sh));
  let qb = vec4<u32>(funnel(a4, a5, sh), funnel(a5, a6, sh), funnel(a6, a7, sh), funnel(a7, a8, sh));
  let m = vec4<u32>(0x03030303u);
  var r = 0.0;
#for L in 0..4
#if SWAR
  r += x.d{{L}} * f32(swar_dot(qa, {{2 * L}}u, qb, {{2 * L}}u, 0x00030003u, x.e{{2 * L}}, x.e{{2 * L + 1}}, x.o{{2 * L}}, x.o{{2 * L + 1}}).x - x.n{{L}});
#else
  r += x.d{{L}} * f32(idot(sub_bytes((qa >> vec4<u32>({{2 * L}}u)) & m, 1u), x.w{{2 * L}}) +
                      idot(sub_bytes((qb >> vec4<u32>({{2 * L}}u)) & m, 1u), x.w{{2 * L + 1}}));
#endif
#endfor
  return d * r;
}
