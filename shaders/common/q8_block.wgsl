// One 32-element activation block quantized to int8 as llama.cpp's Q8_1, written as the int8
// mat-vec reads it (matvec_q8.wgsl's load_xq): shared by the activation quantizer
// (quantize_q8.wgsl) and the int8 mat-vec's quantizing store (QOUT), so both write the same bytes.
// d = max|x| / 127, q = round(x / d) (halves away from zero, as roundf), s = d·Σq. The block is
// seven 16-byte words at XQO[o…]: q[0..16) and q[16..32) packed 4 per u32 (byte k of word j =
// q[4j + k]), then (d, s) as f32 bits, Σq as i32 bits and `ss` as f32 bits (the block's share of
// the sum of squares of the input before a norm weight multiplied it: a mat-vec applying that norm
// at its store sums them to 1/rms), then the same codes as the SWAR products read them
// (matvec_q8.wgsl's swar_dot), made once here rather than per row group: q + 128 of bytes 0 and 2
// of each word in 16-bit lanes, halves swapped (even, words 0..3 then 4..7), the same of bytes 1
// and 3 (odd). The includer declares XQO: array<vec4<u32>> (read_write).

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

// Quantizes x0…x7 (the block's 32 values in order) into block b of XQO.
fn q8_store(b: u32, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>, x4: vec4<f32>, x5: vec4<f32>, x6: vec4<f32>, x7: vec4<f32>, ss: f32) {
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
  let o = XQ_WORDS * b;
  let w0 = vec4<u32>(pack4xI8(q0), pack4xI8(q1), pack4xI8(q2), pack4xI8(q3));
  let w1 = vec4<u32>(pack4xI8(q4), pack4xI8(q5), pack4xI8(q6), pack4xI8(q7));
  XQO[o] = w0;
  XQO[o + 1u] = w1;
  let sq = (sum.x + sum.y) + (sum.z + sum.w);
  XQO[o + 2u] = vec4<u32>(bitcast<u32>(d), bitcast<u32>(d * f32(sq)), bitcast<u32>(sq), bitcast<u32>(ss));
  XQO[o + 3u] = lanes_even(w0);
  XQO[o + 4u] = lanes_even(w1);
  XQO[o + 5u] = lanes_even(w0 >> vec4<u32>(8u));
  XQO[o + 6u] = lanes_even(w1 >> vec4<u32>(8u));
}
