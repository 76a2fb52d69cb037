// The int8-activation products shared by the int8 mat-vec (matvec_q8.wgsl) and the int8 GEMM
// (matmul_tiled_q8.wgsl), which the dot8_*.wgsl decoders call: the chunk of quantized activations
// (Xq8, load_xq), dot4I8Packed sums (idot), borrow-free byte re-biasing (sub_bytes) and the SWAR
// products (swar_codes once per weight chunk, swar_dot per token). The includer says where the
// activations are: `xq_word(i)` returns 16-byte word i, `xq_block_word(t, b, c, k)` the index of
// the first word of token t's activation block k of chunk c of weight block b (as
// common/q8_block.wgsl lays a block out: words 0, 1 the codes, 2 the scales, 3..6 the SWAR
// lanes). With SWAR the codes' words 0, 1 are never read.
// One chunk of activations: NXB blocks of 32 int8, block k in words w{2k}, w{2k+1}, with its
// scale d{k}, sum s{k} = d·Σq, integer sum n{k} = Σq and r{k} = Σx² (for NORM_IN); with SWAR
// also the lanes swar_dot() reads (e: bytes 0 and 2 of each word, o: bytes 1 and 3, as x + 128
// in swapped 16-bit halves), which the quantizer wrote (common/q8_block.wgsl).
struct Xq8 {
#for K in 0..{{NXB}}
#if !SWAR
  w{{2 * K}}: vec4<u32>,
  w{{2 * K + 1}}: vec4<u32>,
#endif
  d{{K}}: f32,
  s{{K}}: f32,
  n{{K}}: i32,
  r{{K}}: f32,
#if SWAR
  e{{2 * K}}: vec4<u32>,
  e{{2 * K + 1}}: vec4<u32>,
  o{{2 * K}}: vec4<u32>,
  o{{2 * K + 1}}: vec4<u32>,
#endif
#endfor
}

// Σ of 16 int8 products: a and b hold 16 int8 each, four per u32.
fn idot(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return (dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y)) + (dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w));
}

// Bytes of q (each < 128) minus k (≤ 128) as int8, without borrows between bytes: q + 128 − k
// stays in 0..255, and flipping the top bit takes the 128 off again modulo 256.
fn sub_bytes(q: vec4<u32>, k: u32) -> vec4<u32> {
  return ((q | vec4<u32>(0x80808080u)) - vec4<u32>(k * 0x01010101u)) ^ vec4<u32>(0x80808080u);
}

#if SWAR

// SWAR products over one activation block of 32, for codes c of at most 4 bits, split as the dot8
// decoders are: swar_codes() takes a weight block's code fields once (all weight work), swar_dot()
// their products with one token's lanes. The codes are the fields `mask` (0x00030003: 2 bits,
// 0x000f000f: 4) at bit sha of each byte of wa (elements 0..15) and at bit shb of wb (16..31);
// c*: bytes 0 and 2, d*: bytes 1 and 3. No dot4I8Packed: a u32 product of (c0 | c2 << 16) and the
// swapped (x2' | x0' << 16), x' = x + 128, holds c0·x0' + c2·x2' in its top half and c0·x2' below;
// 8 such products summed keep the halves apart (< 2^16 each with 4-bit codes), so a shift per 16
// elements ends them. Σ c·x = Σ c·x' − 128·Σc, and 128·Σc (k) depends on the weights only.
struct SwarCodes {
  ca: vec4<u32>,
  da: vec4<u32>,
  cb: vec4<u32>,
  db: vec4<u32>,
  k: i32,
}
fn swar_codes(wa: vec4<u32>, sha: u32, wb: vec4<u32>, shb: u32, mask: u32) -> SwarCodes {
  let m = vec4<u32>(mask);
  var w: SwarCodes;
  w.ca = (wa >> vec4<u32>(sha)) & m;
  w.da = (wa >> vec4<u32>(sha + 8u)) & m;
  w.cb = (wb >> vec4<u32>(shb)) & m;
  w.db = (wb >> vec4<u32>(shb + 8u)) & m;
  let c = (w.ca + w.cb) + (w.da + w.db);
  let cs = (c.x + c.y) + (c.z + c.w);
  w.k = 128 * i32((cs & 0xffffu) + (cs >> 16u));
  return w;
}
// Σ c·x over the block: e*, o* are the token's load_xq lanes of the block.
fn swar_dot(w: SwarCodes, ea: vec4<u32>, eb: vec4<u32>, oa: vec4<u32>, ob: vec4<u32>) -> i32 {
  let pa = w.ca * ea + w.da * oa;
  let pb = w.cb * eb + w.db * ob;
  let sa = (pa.x + pa.y) + (pa.z + pa.w);
  let sb = (pb.x + pb.y) + (pb.z + pb.w);
  return i32(sa >> 16u) + i32(sb >> 16u) - w.k;
}
#endif

// 16-byte words per activation block, as common/q8_block.wgsl writes them.
const XQ_WORDS_IN: u32 = 7u;

fn load_xq(t: u32, b: u32, c: u32) -> Xq8 {
  var x: Xq8;
#for K in 0..{{NXB}}
  let o{{K}} = xq_block_word(t, b, c, {{K}}u);
#if !SWAR
  x.w{{2 * K}} = xq_word(o{{K}});
  x.w{{2 * K + 1}} = xq_word(o{{K}} + 1u);
#endif
  let ds{{K}} = xq_word(o{{K}} + 2u);
  x.d{{K}} = bitcast<f32>(ds{{K}}.x);
  x.s{{K}} = bitcast<f32>(ds{{K}}.y);
  x.n{{K}} = bitcast<i32>(ds{{K}}.z);
  x.r{{K}} = bitcast<f32>(ds{{K}}.w);
#if SWAR
  x.e{{2 * K}} = xq_word(o{{K}} + 3u);
  x.e{{2 * K + 1}} = xq_word(o{{K}} + 4u);
  x.o{{2 * K}} = xq_word(o{{K}} + 5u);
  x.o{{2 * K + 1}} = xq_word(o{{K}} + 6u);
#endif
#endfor
  return x;
}
