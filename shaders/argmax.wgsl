// Greedy token choice in two passes: PARTIAL — NB workgroups each find the best (value, index) of
// a contiguous block (strided reads inside it); FINAL — one workgroup reduces the NB partials and
// writes the token to out[0] (and, with HISTORY, to history[kv_len]: its position).
// Ties go to the lowest index; NaN logits never win.
// ROWS (a batched decode step, src/runtime/batch-decode.ts): logits hold one row of N per
// sequence; workgroup y of PARTIAL and x of FINAL is the row, which has its own NB partials and
// writes its token to out[row] (HISTORY off: the caller copies it into the sequence's history).
#include "reduce"
#include "step"
#include "sampling"

const N: u32 = {{N}}u;
const NB: u32 = {{NB}}u;
const BLOCK: u32 = (N + NB - 1u) / NB;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read_write> partial: array<u32>;   // [NB][2]: value bits, index
#if FINAL
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
#if HISTORY
@group(0) @binding(3) var<storage, read_write> history: array<u32>;
#endif

@compute @workgroup_size(WG)
fn main(inv: Inv, @builtin(workgroup_id) wid: vec3<u32>) {
#if ROWS
  let row = wid.x;
#else
  let row = 0u;
#endif
  var best = ArgMax(-3.0e38, 0xffffffffu);
  for (var b = row * NB + inv.lid; b < (row + 1u) * NB; b += WG) {
    best = better(best, ArgMax(bitcast<f32>(partial[2u * b]), partial[2u * b + 1u]));
  }
  let top = wg_argmax(best, inv);
  if (inv.lid == 0u) {
    let id = min(top.i, N - 1u);
    out[row] = id;
#if HISTORY
    if (step.kv_len < arrayLength(&history)) { history[step.kv_len] = id; }
#endif
  }
}
#else
@group(0) @binding(2) var<storage, read> logits: array<f32>;

@compute @workgroup_size(WG)
fn main(inv: Inv, @builtin(workgroup_id) wid: vec3<u32>) {
#if ROWS
  let row = wid.y;
#else
  let row = 0u;
#endif
  let start = wid.x * BLOCK;
  let end = min(start + BLOCK, N);
  var best = ArgMax(-3.0e38, 0xffffffffu);
  for (var i = start + inv.lid; i < end; i += WG) { best = better(best, ArgMax(finite_logit(logits[row * N + i]), i)); }
  let top = wg_argmax(best, inv);
  if (inv.lid == 0u) {
    partial[2u * (row * NB + wid.x)] = bitcast<u32>(top.v);
    partial[2u * (row * NB + wid.x) + 1u] = top.i;
  }
}
#endif
