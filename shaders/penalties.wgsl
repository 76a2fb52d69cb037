// Repetition / frequency / presence penalties on the logits, in place, as llama.cpp applies them:
// for each distinct token among the last W = min(penalty_last_n, MAXWIN, kv_len) entries of the
// token history (positions kv_len - W … kv_len - 1) with count c:
//   z = z <= 0 ? z * repeat : z / repeat;   z -= c * frequency + presence
// Thread i owns window slot i and acts only if slot i is the token's first occurrence, so each
// token is written by exactly one thread. O(W²) compares, fine for windows of a few hundred.
#include "step"
#include "sampling"

const N: u32 = {{N}}u;
const MAXWIN: u32 = {{MAXWIN}}u;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<uniform> sp: SamplingParams;
@group(0) @binding(2) var<storage, read> history: array<u32>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (sp.repeat_penalty == 1.0 && sp.frequency_penalty == 0.0 && sp.presence_penalty == 0.0) { return; }
  let kv = min(step.kv_len, arrayLength(&history));
  let win = min(min(sp.penalty_last_n, MAXWIN), kv);
  let i = gid.x;
  if (i >= win) { return; }
  let start = kv - win;
  let tok = history[start + i];
  if (tok >= N) { return; }
  for (var j = 0u; j < i; j++) {
    if (history[start + j] == tok) { return; }
  }
  var count = 1u;
  for (var j = i + 1u; j < win; j++) {
    if (history[start + j] == tok) { count++; }
  }
  var z = logits[tok];
  z = select(z / sp.repeat_penalty, z * sp.repeat_penalty, z <= 0.0);
  z -= f32(count) * sp.frequency_penalty + sp.presence_penalty;
  logits[tok] = z;
}
