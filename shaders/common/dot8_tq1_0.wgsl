// TQ1_0 (54 bytes): qs[48] qh[4] d:f16, 5 (qs) or 4 (qh) base-3 trits per byte (layout and trit
// extraction as in dec_tq1_0.wgsl). A chunk is the whole block, 8 activation blocks:
// block n < 5 = trit n of qs[0..32); blocks 5, 6 = trits (0, 1), (2, 3) of qs[32..48); block 7 =
// trit 4 of qs[32..48), then trit n of qh[0..4) for elements 240 + 4n. Codes − 1 are the weights.
const QK: u32 = 256u;
const QB: u32 = 54u;
const NCH: u32 = 1u;
fn xblock(c: u32, k: u32) -> u32 { return k; }
// Trits 0..4 of the 4 bytes of w, each packed as int8 code − 1 (4 per u32): trit n is the integer
// part of 3·frac(b·3^n / 256), so each step keeps b·3 mod 256 and takes the carry out.
struct Trits { t0: u32, t1: u32, t2: u32, t3: u32, t4: u32 }
fn trits8(w: u32) -> Trits {
  var q = (vec4<u32>(w) >> SH8) & vec4<u32>(255u);
  var r: Trits;
#for N in 0..5
  let m{{N}} = q * 3u;
  r.t{{N}} = pack4xI8(vec4<i32>(m{{N}} >> vec4<u32>(8u)) - vec4<i32>(1));
  q = m{{N}} & vec4<u32>(255u);
#endfor
  return r;
}
fn dot_q8(bo: u32, c: u32, x: Xq8) -> f32 {
  let d = ldf16(bo + 52u);
  let wi = bo >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..14
  let a{{K}} = W[wi + {{K}}u];
#endfor
#for K in 0..13
  let t{{K}} = trits8(funnel(a{{K}}, a{{K + 1}}, sh));
#endfor
  var r = 0.0;
#for N in 0..5
  r += x.d{{N}} * f32(idot(vec4<u32>(t0.t{{N}}, t1.t{{N}}, t2.t{{N}}, t3.t{{N}}), x.w{{2 * N}}) +
                      idot(vec4<u32>(t4.t{{N}}, t5.t{{N}}, t6.t{{N}}, t7.t{{N}}), x.w{{2 * N + 1}}));
#endfor
  r += x.d5 * f32(idot(vec4<u32>(t8.t0, t9.t0, t10.t0, t11.t0), x.w10) + idot(vec4<u32>(t8.t1, t9.t1, t10.t1, t11.t1), x.w11));
  r += x.d6 * f32(idot(vec4<u32>(t8.t2, t9.t2, t10.t2, t11.t2), x.w12) + idot(vec4<u32>(t8.t3, t9.t3, t10.t3, t11.t3), x.w13));
  r += x.d7 * f32(idot(vec4<u32>(t8.t4, t9.t4, t10.t4, t11.t4), x.w14) + idot(vec4<u32>(t12.t0, t12.t1, t12.t2, t12.t3), x.w15));
  return d * r;
}
