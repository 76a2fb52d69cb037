// RMSNorm over rows of N values: y = x / sqrt(mean(x²) + eps) [* w].
// rows = n_tokens * ROWS_PER_TOKEN (ROWS_PER_TOKEN > 1 normalises each head separately, e.g.
// Qwen3's per-head q/k norms with one weight of head_dim values).
// ADD fuses the residual add before it: resid += x; y = norm(resid) [* w].
// Two layouts: one workgroup per row (its threads stride over the row and reduce through
// subgroups and workgroup memory), or with ROWS one thread per row over vec4s (N a multiple of
// 4): software adapters, where a workgroup is a loop over SIMD lanes and its reduction's barriers
// and workgroup-memory reads cost more than the row itself (docs/kernels.md).
#include "reduce"
#include "step"

const N: u32 = {{N}}u;
const ROWS_PER_TOKEN: u32 = {{ROWS_PER_TOKEN}}u;
override EPS: f32;

#if ROWS
alias V = vec4<f32>;
const NV: u32 = N / 4u;
#else
alias V = f32;
const NV: u32 = N;
#endif

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read> x: array<V>;          // [rows][N] (ADD: the delta)
@group(0) @binding(2) var<storage, read_write> y: array<V>;    // [rows][N]
#if HAS_WEIGHT
@group(0) @binding(3) var<storage, read> w: array<V>;          // [N]
#endif
#if ADD
@group(0) @binding(4) var<storage, read_write> resid: array<V>; // [rows][N], updated in place
#endif

@compute @workgroup_size(WG)
fn main(inv: Inv, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
#if ROWS
  // A thread per row: it walks the whole row.
  let row = wg_linear(wid, nwg) * WG + inv.lid;
  let first = 0u;
  let stride = 1u;
#else
  // A workgroup per row: its threads stride over it.
  let row = wg_linear(wid, nwg);
  let first = inv.lid;
  let stride = WG;
#endif
  if (row >= step.n_tokens * ROWS_PER_TOKEN) { return; }
  let base = row * NV;
  var ss = V(0.0);
  for (var i = first; i < NV; i += stride) {
#if ADD
    let v = resid[base + i] + x[base + i];
    resid[base + i] = v;
#else
    let v = x[base + i];
#endif
    ss += v * v;
  }
#if ROWS
  let total = (ss.x + ss.y) + (ss.z + ss.w);
#else
  let total = wg_sum(ss, inv);
#endif
  let scale = inverseSqrt(total / f32(N) + EPS);
  for (var i = first; i < NV; i += stride) {
#if ADD
    var v = resid[base + i] * scale;
#else
    var v = x[base + i] * scale;
#endif
#if HAS_WEIGHT
    v *= w[i];
#endif
    y[base + i] = v;
  }
}
