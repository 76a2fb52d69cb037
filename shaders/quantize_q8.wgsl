// Activation quantization to int8 for the int8 mat-vec (matvec_q8.wgsl), as llama.cpp's Q8_1:
// per 32-element block, d = max|x| / 127, q = round(x / d) (halves away from zero, as roundf),
// s = d·Σq (the block sum that types with a block min need). A thread per block.
// Block b of the output is three 16-byte words: q[0..16) and q[16..32) packed 4 per u32
// (byte k of word j = q[4j + k]), then (d, s) as f32 bits, Σq as i32 bits and 0.
struct Params {
  blocks: u32,   // blocks to quantize
  inBase4: u32,  // input offset in vec4s
}

@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> XQ: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

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
  let o = 3u * b;
  XQ[o] = vec4<u32>(pack4xI8(q0), pack4xI8(q1), pack4xI8(q2), pack4xI8(q3));
  XQ[o + 1u] = vec4<u32>(pack4xI8(q4), pack4xI8(q5), pack4xI8(q6), pack4xI8(q7));
  let sq = (sum.x + sum.y) + (sum.z + sum.w);
  XQ[o + 2u] = vec4<u32>(bitcast<u32>(d), bitcast<u32>(d * f32(sq)), bitcast<u32>(sq), 0u);
}
