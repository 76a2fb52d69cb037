// The K most probable tokens of softmax(logits) with their probabilities, for reporting (e.g. the
// CLI's --json). One workgroup: max, sum of exp, then K rounds that each pick the best entry
// ranked strictly after the previous pick in (logit desc, index asc) order.
// out[2r] = token id, out[2r + 1] = bitcast<u32>(probability), r < K.
#include "reduce"
#include "sampling"

const N: u32 = {{N}}u;
const K: u32 = {{K}}u;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(WG)
fn main(inv: Inv) {
  let lid = inv.lid;
  var mx = -3.0e38;
  for (var i = lid; i < N; i += WG) { mx = max(mx, finite_logit(logits[i])); }
  let m = wg_max(mx, inv);
  var s = 0.0;
  for (var i = lid; i < N; i += WG) { s += exp(finite_logit(logits[i]) - m); }
  let inv_sum = 1.0 / wg_sum(s, inv);
  var prev = ArgMax(3.0e38, 0u);
  for (var r = 0u; r < K; r++) {
    var best = ArgMax(-3.0e38, 0xffffffffu);
    for (var i = lid; i < N; i += WG) {
      let z = finite_logit(logits[i]);
      if (z < prev.v || (z == prev.v && i > prev.i) || r == 0u) { best = better(best, ArgMax(z, i)); }
    }
    let pick = wg_argmax(best, inv);
    if (lid == 0u) {
      out[2u * r] = pick.i;
      out[2u * r + 1u] = bitcast<u32>(select(exp(pick.v - m) * inv_sum, 0.0, pick.i == 0xffffffffu));
    }
    prev = pick;
  }
}
