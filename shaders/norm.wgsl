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

#if ROWS
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg_linear(wid, nwg) * WG + lid;
  if (row >= step.n_tokens * ROWS_PER_TOKEN) { return; }
  let base = row * NV;
  var ss4 = vec4<f32>(0.0);
  for (var i = 0u; i < NV; i++) {
#if ADD
    let v = resid[base + i] + x[base + i];
    resid[base + i] = v;
#else
    let v = x[base + i];
#endif
    ss4 = fma(v, v, ss4);
  }
  let scale = inverseSqrt(((ss4.x + ss4.y) + (ss4.z + ss4.w)) / f32(N) + EPS);
  for (var i = 0u; i < NV; i++) {
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
#else
@compute @workgroup_size(WG)
fn main(inv: Inv, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg_linear(wid, nwg);
  if (row >= step.n_tokens * ROWS_PER_TOKEN) { return; }
  let base = row * N;
  var ss = 0.0;
  for (var i = inv.lid; i < N; i += WG) {
#if ADD
    let v = resid[base + i] + x[base + i];
    resid[base + i] = v;
#else
    let v = x[base + i];
#endif
    ss += v * v;
  }
  let scale = inverseSqrt(wg_sum(ss, inv) / f32(N) + EPS);
  for (var i = inv.lid; i < N; i += WG) {
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
#endif
