// Copies this step's K and V rows into the layer's KV cache at positions pos0 + t.
// Cache layout: [NK][MAXCTX][HD] f32, row `pos` of head h at (h * MAXCTX + pos) * HD.
#include "step"

const HD: u32 = {{HD}}u;
const NK: u32 = {{NK}}u;
const MAXCTX: u32 = {{MAXCTX}}u;
const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read> k: array<f32>;        // [T][NK][HD]
@group(0) @binding(2) var<storage, read> v: array<f32>;        // [T][NK][HD]
@group(0) @binding(3) var<storage, read_write> kc: array<f32>;
@group(0) @binding(4) var<storage, read_write> vc: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  let t = idx / (NK * HD);
  if (t >= step.n_tokens) { return; }
  let pos = step.pos0 + t;
  if (pos >= MAXCTX) { return; }
  let h = (idx / HD) % NK;
  let d = idx % HD;
  let dst = (h * MAXCTX + pos) * HD + d;
  kc[dst] = k[idx];
  vc[dst] = v[idx];
}
