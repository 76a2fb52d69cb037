// Q8_0 (34 bytes): d:f16, qs: int8[32] — already int8: one activation block per weight block.
const QK: u32 = 32u;
const QB: u32 = 34u;
const NCH: u32 = 1u;
fn xblock(c: u32, k: u32) -> u32 { return k; }
// The block's 32 int8 (lo: elements 0..15, hi: 16..31) and its scale.
struct Wq8 {
  d: f32,
  lo: vec4<u32>,
  hi: vec4<u32>,
}
fn unpack_q8(bo: u32, c: u32) -> Wq8 {
  let wi = (bo + 2u) >> 2u;
  let sh = ((bo + 2u) & 3u) << 3u;
#for K in 0..9
  let a{{K}} = W[wi + {{K}}u];
#endfor
  var w: Wq8;
  w.d = ldf16(bo);
  w.lo = vec4<u32>(funnel(a0, a1, sh), funnel(a1, a2, sh), funnel(a2, a3, sh), funnel(a3, a4, sh));
  w.hi = vec4<u32>(funnel(a4, a5, sh), funnel(a5, a6, sh), funnel(a6, a7, sh), funnel(a7, a8, sh));
  return w;
}
fn dot_unpacked(w: Wq8, x: Xq8) -> f32 {
  return w.d * x.d0 * f32(idot(w.lo, x.w0) + idot(w.hi, x.w1));
}
