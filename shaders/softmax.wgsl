// Softmax over rows of N values, one workgroup per row: y = exp(x - max) / Σ exp(x - max).
#include "reduce"

const N: u32 = {{N}}u;
const ROWS: u32 = {{ROWS}}u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(inv: Inv, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg_linear(wid, nwg);
  if (row >= ROWS) { return; }
  let base = row * N;
  var mx = -3.0e38;
  for (var i = inv.lid; i < N; i += WG) { mx = max(mx, x[base + i]); }
  let m = wg_max(mx, inv);
  var s = 0.0;
  for (var i = inv.lid; i < N; i += WG) { s += exp(x[base + i] - m); }
  let inv_sum = 1.0 / wg_sum(s, inv);
  for (var i = inv.lid; i < N; i += WG) { y[base + i] = exp(x[base + i] - m) * inv_sum; }
}
