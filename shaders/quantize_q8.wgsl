// Activation quantization to int8 for the int8 mat-vec (matvec_q8.wgsl), as llama.cpp's Q8_1
// (the block format: common/q8_block.wgsl). A thread per 32-element block.
// With NORM the values are first multiplied by a norm's weight G, and each block keeps the sum of
// squares of the values before it: the mat-vec reading them applies the RMSNorm's 1/rms at its
// store (W·(G∘x)/rms = W·(G∘x/rms), and the int8 codes of G∘x and G∘x/rms are the same up to
// rounding, as the block scale absorbs any factor), so no norm kernel writes a normalised copy.
// Several rows (tokens of a batched decode step) are one run of blocks, each row rowBlocks long
// (the norm weight repeats per row).
#include "q8_block"

struct Params {
  blocks: u32,   // blocks to quantize
  inBase4: u32,  // input offset in vec4s
  rowBlocks: u32, // blocks per row
}

@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> XQO: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> params: Params;
#if NORM
@group(0) @binding(3) var<storage, read> G: array<vec4<f32>>;
#endif

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = gid.x + gid.y * nwg.x * 64u;
  if (b >= params.blocks) { return; }
  let xb = params.inBase4 + 8u * b;
  var ss = vec4<f32>(0.0);
#for I in 0..8
  let r{{I}} = X[xb + {{I}}u];
  ss += r{{I}} * r{{I}};
#if NORM
  let x{{I}} = r{{I}} * G[8u * (b % params.rowBlocks) + {{I}}u];
#else
  let x{{I}} = r{{I}};
#endif
#endfor
  q8_store(b, x0, x1, x2, x3, x4, x5, x6, x7, (ss.x + ss.y) + (ss.z + ss.w));
}
