// TQ1_0 (54 bytes): qs[48] qh[4] d:f16, 5 (qs) or 4 (qh) base-3 trits per byte (layout and trit
// extraction as in dec_tq1_0.wgsl). A chunk is the whole block, 8 activation blocks:
// block n < 5 = trit n of qs[0..32); blocks 5, 6 = trits (0, 1), (2, 3) of qs[32..48); block 7 =
// trit 4 of qs[32..48), then trit n of qh[0..4) for elements 240 + 4n. Codes − 1 are the weights.
const QK: u32 = 256u;
const QB: u32 = 54u;
const NCH: u32 = 1u;
fn xblock(c: u32, k: u32) -> u32 { return k; }
// Trits 0..4 of the 4 bytes of each word of w, each plane packed as bytes (4 per u32):
// trit n is the integer part of 3·frac(b·3^n / 256), so each step multiplies by 3, takes the carry
// out of the byte as the trit and keeps b·3 mod 256. Even and odd bytes go in separate 16-bit
// lanes (b·3 < 2^16), so one u32 multiply steps two bytes.
struct Trits { t0: vec4<u32>, t1: vec4<u32>, t2: vec4<u32>, t3: vec4<u32>, t4: vec4<u32> }
fn trits8(w: vec4<u32>) -> Trits {
  let lanes = vec4<u32>(0x00ff00ffu);
  var e = w & lanes;
  var o = (w >> vec4<u32>(8u)) & lanes;
  var r: Trits;
#for N in 0..5
  e *= 3u;
  o *= 3u;
  r.t{{N}} = ((e >> vec4<u32>(8u)) & vec4<u32>(0x00030003u)) | (o & vec4<u32>(0x03000300u));
  e &= lanes;
  o &= lanes;
#endfor
  return r;
}
// The block scale and activation block N's codes (N < 8, in the order above): SWAR code fields
// (s{N}; the −1 is folded in with Σx), or the int8 weights (a{N}: elements 0..15, b{N}: 16..31).
struct Wq8 {
  d: f32,
#for N in 0..8
#if SWAR
  s{{N}}: SwarCodes,
#else
  a{{N}}: vec4<u32>,
  b{{N}}: vec4<u32>,
#endif
#endfor
}
#if SWAR
// Block codes from trit planes (bytes 0..2): the whole byte is the field.
fn tcodes(wa: vec4<u32>, wb: vec4<u32>) -> SwarCodes { return swar_codes(wa, 0u, wb, 0u, 0x00030003u); }
#endif
fn unpack_q8(bo: u32, c: u32) -> Wq8 {
  let wi = bo >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..14
  let a{{K}} = W[wi + {{K}}u];
#endfor
  // qs[0..16), qs[16..32), qs[32..48), then the qh word (only its trits 0..3 are used).
  let ta = trits8(vec4<u32>(funnel(a0, a1, sh), funnel(a1, a2, sh), funnel(a2, a3, sh), funnel(a3, a4, sh)));
  let tb = trits8(vec4<u32>(funnel(a4, a5, sh), funnel(a5, a6, sh), funnel(a6, a7, sh), funnel(a7, a8, sh)));
  let tc = trits8(vec4<u32>(funnel(a8, a9, sh), funnel(a9, a10, sh), funnel(a10, a11, sh), funnel(a11, a12, sh)));
  let th = trits8(vec4<u32>(funnel(a12, a13, sh)));
  let qh = vec4<u32>(th.t0.x, th.t1.x, th.t2.x, th.t3.x);
  var w: Wq8;
  w.d = ldf16(bo + 52u);
#if SWAR
#for N in 0..5
  w.s{{N}} = tcodes(ta.t{{N}}, tb.t{{N}});
#endfor
  w.s5 = tcodes(tc.t0, tc.t1);
  w.s6 = tcodes(tc.t2, tc.t3);
  w.s7 = tcodes(tc.t4, qh);
#else
#for N in 0..5
  w.a{{N}} = sub_bytes(ta.t{{N}}, 1u);
  w.b{{N}} = sub_bytes(tb.t{{N}}, 1u);
#endfor
  w.a5 = sub_bytes(tc.t0, 1u);
  w.b5 = sub_bytes(tc.t1, 1u);
  w.a6 = sub_bytes(tc.t2, 1u);
  w.b6 = sub_bytes(tc.t3, 1u);
  w.a7 = sub_bytes(tc.t4, 1u);
  w.b7 = sub_bytes(qh, 1u);
#endif
  return w;
}
fn dot_unpacked(w: Wq8, x: Xq8) -> f32 {
  var r = 0.0;
#for N in 0..8
#if SWAR
  r += x.d{{N}} * f32(swar_dot(w.s{{N}}, x.e{{2 * N}}, x.e{{2 * N + 1}}, x.o{{2 * N}}, x.o{{2 * N + 1}}) - x.n{{N}});
#else
  r += x.d{{N}} * f32(idot(w.a{{N}}, x.w{{2 * N}}) + idot(w.b{{N}}, x.w{{2 * N + 1}}));
#endif
#endfor
  return w.d * r;
}
