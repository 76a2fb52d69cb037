// Activation quantization to int8 for the int8 mat-vec (matvec_q8.wgsl), as llama.cpp's Q8_1:
// per 32-element block, d = max|x| / 127, q = round(x / d) (halves away from zero, as roundf),
// s = d·Σq (the block sum that types with a block min need). A thread per block.
// Block b of the output is seven 16-byte words: q[0..16) and q[16..32) packed 4 per u32
// (byte k of word j = q[4j + k]), then (d, s) as f32 bits, Σq as i32 bits and 0, then the same
// codes as the SWAR products read them (matvec_q8.wgsl's swar_dot), made once here rather than
// per row group: q + 128 of bytes 0 and 2 of each word in 16-bit lanes, halves swapped (even,
// words 0..3 then 4..7), the same of bytes 1 and 3 (odd).
struct Params {
  blocks: u32,   // blocks to quantize
  inBase4: u32,  // input offset in vec4s
}

@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> XQ: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

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

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = gid.x + gid.y * nwg.x * 64u;
  if (b >= params.blocks) { return; }
  let xb = params.inBase4 + 8u * b;
#for I in 0..8
  let x{{I}} = X[xb + {{I}}u];
#endfor
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
  XQ[o] = w0;
  XQ[o + 1u] = w1;
  let sq = (sum.x + sum.y) + (sum.z + sum.w);
  XQ[o + 2u] = vec4<u32>(bitcast<u32>(d), bitcast<u32>(d * f32(sq)), bitcast<u32>(sq), 0u);
  XQ[o + 3u] = lanes_even(w0);
  XQ[o + 4u] = lanes_even(w1);
  XQ[o + 5u] = lanes_even(w0 >> vec4<u32>(8u));
  XQ[o + 6u] = lanes_even(w1 >> vec4<u32>(8u));
}
