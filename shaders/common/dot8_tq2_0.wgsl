// TQ2_0 in its grouped GPU layout (as in dec_tq2_0.wgsl: `bo` is the group's offset plus the
// block's index j; the group's first word holds the f32 scales, then each block's qs[64]).
// Element 128c + 32l + m has code (qs[32c + m] >> 2l) & 3 and weight (code − 1)·d. Chunk c = two
// aligned 16-byte loads of qs[32c ..]: plane l of them is the activation block 4c + l, its
// codes − 1 the int8 weights (−1, 0, +1; the code 3 no quantizer writes is +2, as in ggml). The
// only multiplies are the block scales.
const QK: u32 = 256u;
const QB: u32 = 64u;
const NCH: u32 = 2u;
fn xblock(c: u32, k: u32) -> u32 { return 4u * c + k; }
// The block scale and plane L's codes: SWAR code fields (s{L}; the −1 is folded in with Σx), or
// the int8 weights (a{L}: elements 0..15, b{L}: 16..31).
struct Wq8 {
  d: f32,
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
  let g = bo & ~15u;
  let j = bo & 15u;
  let wi = (g >> 4u) + 1u + 4u * j + 2u * c;
  let qa = W4[wi];
  let qb = W4[wi + 1u];
  let m = vec4<u32>(0x03030303u);
  var w: Wq8;
  w.d = bitcast<f32>(W[(g >> 2u) + j]);
#for L in 0..4
#if SWAR
  w.s{{L}} = swar_codes(qa, {{2 * L}}u, qb, {{2 * L}}u, 0x00030003u);
#else
  w.a{{L}} = sub_bytes((qa >> vec4<u32>({{2 * L}}u)) & m, 1u);
  w.b{{L}} = sub_bytes((qb >> vec4<u32>({{2 * L}}u)) & m, 1u);
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
  return w.d * r;
}
