struct P { rows: u32, blocks: u32, rowBytes: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> LUTW: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
// The table of bench/probes/ternary-lut-matvec.wgsl: one thread per pair (b, h, g), elements
// (64h + g, 64h + 32 + g) of block b; entry i = (i >> 2 − 1)·xa + ((i & 3) − 1)·xb.
@compute @workgroup_size(64)
fn build(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pi = gid.x;
  if (pi >= p.blocks * 64u) { return; }
  let b = pi / 64u;
  let h = (pi / 32u) % 2u;
  let g = pi % 32u;
  let xa = X[b * 128u + 64u * h + g];
  let xb = X[b * 128u + 64u * h + 32u + g];
  for (var i = 0u; i < 16u; i++) {
    let wa = f32(i32(i >> 2u) - 1);
    let wb = f32(i32(i & 3u) - 1);
    LUTW[(pi << 4u) + i] = wa * xa + wb * xb;
  }
}
