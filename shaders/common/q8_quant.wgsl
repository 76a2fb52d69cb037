// One 32-element activation block quantized to int8 as llama.cpp's Q8_1, as the int8 kernels
// read it (common/q8_dot.wgsl's load_xq): shared by the activation quantizer (quantize_q8.wgsl),
// the int8 mat-vec's quantizing store (QOUT, both through common/q8_block.wgsl's q8_store) and the
// int8 GEMM, which quantizes its staged input itself (matmul_tiled_q8.wgsl), so all make the same
// bytes.
// d = max|x| / 127, q = round(x / d) (halves away from zero, as roundf), s = d·Σq. The block is
// seven 16-byte words (Q8Words): q[0..16) and q[16..32) packed 4 per u32 (byte k of word j =
// q[4j + k]), then (d, s) as f32 bits, Σq as i32 bits and `ss` as f32 bits (the block's share of
// the sum of squares of the input before a norm weight multiplied it: a mat-vec applying that norm
// at its store sums them to 1/rms), then the same codes as the SWAR products read them
// (matvec_q8.wgsl's swar_dot), made once here rather than per row group: q + 128 of bytes 0 and 2
// of each word in 16-bit lanes, halves swapped (even, words 0..3 then 4..7), the same of bytes 1
// and 3 (odd).

// 16-byte words per block (Q8_BLOCK_BYTES / 16 in src/kernels/matvec-q8.ts, XQ_WORDS in matvec_q8.wgsl).
const XQ_WORDS: u32 = 7u;

// Bytes 0 and 2 of each word as q + 128 in 16-bit lanes, the halves swapped.
fn lanes_even(w: vec4<u32>) -> vec4<u32> {
  let v = (w ^ vec4<u32>(0x80808080u)) & vec4<u32>(0x00ff00ffu);
  return (v << vec4<u32>(16u)) | (v >> vec4<u32>(16u));
}

fn round_q(v: vec4<f32>, id: f32) -> vec4<i32> {
  let t = v * id;
  return vec4<i32>(sign(t) * floor(abs(t) + vec4<f32>(0.5)));
}

struct Q8Words { w0: vec4<u32>, w1: vec4<u32>, ds: vec4<u32>, e0: vec4<u32>, e1: vec4<u32>, o0: vec4<u32>, o1: vec4<u32> }

// Quantizes x0…x7 (the block's 32 values in order).
fn q8_words(x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>, x4: vec4<f32>, x5: vec4<f32>, x6: vec4<f32>, x7: vec4<f32>, ss: f32) -> Q8Words {
  var amax = vec4<f32>(0.0);
#for I in 0..8
  amax = max(amax, abs(x{{I}}));
#endfor
  let d = max(max(amax.x, amax.y), max(amax.z, amax.w)) / 127.0;
  let id = select(0.0, 1.0 / d, d > 0.0);
  var sum = vec4<i32>(0);
#for I in 0..8
  let q{{I}} = round_q(x{{I}}, id);
  sum += q{{I}};
#endfor
  var r: Q8Words;
  r.w0 = vec4<u32>(pack4xI8(q0), pack4xI8(q1), pack4xI8(q2), pack4xI8(q3));
  r.w1 = vec4<u32>(pack4xI8(q4), pack4xI8(q5), pack4xI8(q6), pack4xI8(q7));
  let sq = (sum.x + sum.y) + (sum.z + sum.w);
  r.ds = vec4<u32>(bitcast<u32>(d), bitcast<u32>(d * f32(sq)), bitcast<u32>(sq), bitcast<u32>(ss));
  r.e0 = lanes_even(r.w0);
  r.e1 = lanes_even(r.w1);
  r.o0 = lanes_even(r.w0 >> vec4<u32>(8u));
  r.o1 = lanes_even(r.w1 >> vec4<u32>(8u));
  return r;
}
