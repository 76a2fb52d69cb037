// Q6_K (210 bytes): ql[128] qh[64] scales: int8[16] d:f16 (layout as in dec_q6_k.wgsl). Chunk
// c = (h, p) = (c / 2, c % 2) covers the activation blocks of elements 128h + 32p (low nibbles
// of ql[64h + 32p ..], qh bits 2p) and 128h + 32p + 64 (high nibbles, qh bits 2p + 4); q − 32
// is int8, and the int8 sub-block scales (16 elements each) multiply the i32 sums.
const QK: u32 = 256u;
const QB: u32 = 210u;
const NCH: u32 = 4u;
fn xblock(c: u32, k: u32) -> u32 { return 4u * (c >> 1u) + (c & 1u) + 2u * k; }
fn sc8(b: u32) -> i32 { return (bitcast<i32>(b) << 24u) >> 24u; }
// d, the chunk's int8 weights (activation block 0: a0 for elements 0..15, a1 for 16..31; block 1:
// b0, b1) and the scales of those four 16-element sub-blocks, in that order.
struct Wq8 {
  d: f32,
  a0: vec4<u32>,
  a1: vec4<u32>,
  b0: vec4<u32>,
  b1: vec4<u32>,
  sc: vec4<i32>,
}
fn unpack_q8(bo: u32, c: u32) -> Wq8 {
  let h = c >> 1u;
  let p = c & 1u;
  let s01 = ld16(bo + 192u + 8u * h + 2u * p);
  let s45 = ld16(bo + 196u + 8u * h + 2u * p);
  let li = (bo + 64u * h + 32u * p) >> 2u;
  let hi = (bo + 128u + 32u * h) >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..9
  let l{{K}} = W[li + {{K}}u];
  let u{{K}} = W[hi + {{K}}u];
#endfor
  let la = vec4<u32>(funnel(l0, l1, sh), funnel(l1, l2, sh), funnel(l2, l3, sh), funnel(l3, l4, sh));
  let lb = vec4<u32>(funnel(l4, l5, sh), funnel(l5, l6, sh), funnel(l6, l7, sh), funnel(l7, l8, sh));
  let ua = vec4<u32>(funnel(u0, u1, sh), funnel(u1, u2, sh), funnel(u2, u3, sh), funnel(u3, u4, sh));
  let ub = vec4<u32>(funnel(u4, u5, sh), funnel(u5, u6, sh), funnel(u6, u7, sh), funnel(u7, u8, sh));
  let m4 = vec4<u32>(0x0f0f0f0fu);
  let m2 = vec4<u32>(0x03030303u);
  let s0 = vec4<u32>(2u * p);
  let s1 = vec4<u32>(2u * p + 4u);
  let n4 = vec4<u32>(4u);
  var w: Wq8;
  w.d = ldf16(bo + 208u);
  w.a0 = sub_bytes((la & m4) | (((ua >> s0) & m2) << n4), 32u);
  w.a1 = sub_bytes((lb & m4) | (((ub >> s0) & m2) << n4), 32u);
  w.b0 = sub_bytes(((la >> n4) & m4) | (((ua >> s1) & m2) << n4), 32u);
  w.b1 = sub_bytes(((lb >> n4) & m4) | (((ub >> s1) & m2) << n4), 32u);
  w.sc = vec4<i32>(sc8(s01 & 255u), sc8(s01 >> 8u), sc8(s45 & 255u), sc8(s45 >> 8u));
  return w;
}
fn dot_unpacked(w: Wq8, x: Xq8) -> f32 {
  let i0 = w.sc.x * idot(w.a0, x.w0) + w.sc.y * idot(w.a1, x.w1);
  let i1 = w.sc.z * idot(w.b0, x.w2) + w.sc.w * idot(w.b1, x.w3);
  return w.d * (x.d0 * f32(i0) + x.d1 * f32(i1));
}
