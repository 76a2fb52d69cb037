// Activation statistics for an importance matrix: for each of the N values per token,
//   sum2[c] += Σ_t x[t][c]²   and   sum[c] += Σ_t x[t][c]   over the step's n_tokens tokens.
// One thread per column: each reads its column down the tokens, so a step's sums are added to the
// running totals once, in the same order every time (the result does not depend on scheduling).
#include "step"

const N: u32 = {{N}}u;
const WG: u32 = {{WG}}u;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> sum2: array<f32>;
@group(0) @binding(3) var<storage, read_write> sum: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= N) { return; }
  var s2 = 0.0;
  var s1 = 0.0;
  for (var t = 0u; t < step.n_tokens; t++) {
    let v = x[t * N + c];
    s2 += v * v;
    s1 += v;
  }
  sum2[c] += s2;
  sum[c] += s1;
}
