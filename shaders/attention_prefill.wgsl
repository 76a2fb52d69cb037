// Causal attention for a block of n_tokens query tokens at positions pos0 + t over the f32 KV
// cache (which already holds this block's K/V rows), with GQA.
//
// A row is one (token, query head) pair; rows that share kv head h (wid.y) are numbered
// token-major, flat = t * G + j, and a workgroup takes R consecutive rows. TPR threads work on a
// row, each owning DPT4 vec4 of the head dimension for q, the output and its slice of every dot
// product. Keys go by tiles of BK: (0) the workgroup stages the tile's K and V rows in workgroup
// memory (ks, vs: each cache row read from global memory once per workgroup, then shared by its R
// rows), (1) partial dots of each (row, key) slice into shared memory, (2) each thread sums its
// row's slices, applies the causal mask (key ≤ pos0 + t), updates the online softmax and
// accumulates p · V over its slice. All rows of a workgroup use the same kv head.
#include "step"

const HD: u32 = {{HD}}u;
const HD4: u32 = HD / 4u;
const G: u32 = {{G}}u;
const NH: u32 = {{NH}}u;
const MAXCTX: u32 = {{MAXCTX}}u;
const TPR: u32 = {{TPR}}u;
const DPT4: u32 = {{DPT4}}u;
const R: u32 = {{R}}u;
const WG: u32 = R * TPR;
// Keys per tile: ps is WG·BK words, ks and vs BK·HD each (src/kernels/attention.ts picks BK to
// fit the device's workgroup storage).
const BK: u32 = {{BK}}u;
const NEG_BIG: f32 = -3.0e38;
override SCALE: f32;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;         // [T][NH][HD]
@group(0) @binding(2) var<storage, read> kc: array<vec4<f32>>;        // [NKV][MAXCTX][HD]
@group(0) @binding(3) var<storage, read> vc: array<vec4<f32>>;        // [NKV][MAXCTX][HD]
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>; // [T][NH][HD]

var<workgroup> ps: array<f32, WG * BK>;   // [R][BK][TPR] partial dot products
var<workgroup> ks: array<vec4<f32>, BK * HD4>; // [BK][HD4] this tile's keys
var<workgroup> vs: array<vec4<f32>, BK * HD4>; // [BK][HD4] this tile's values

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.y;
  let r = lid / TPR;
  let sub = lid % TPR;
  let n_rows = step.n_tokens * G;
  let row0 = wid.x * R;
  if (row0 >= n_rows) { return; }
  let flat = row0 + r;
  let valid = flat < n_rows;
  let fr = min(flat, n_rows - 1u);
  let t = fr / G;
  let j = fr % G;
  // Keys the whole workgroup needs: up to the last row's own position (uniform across the group).
  let t_last = (min(row0 + R, n_rows) - 1u) / G;
  let kv_end = min(min(step.pos0 + t_last + 1u, step.kv_len), MAXCTX);
  let limit = step.pos0 + t;

  let qo = (t * NH + h * G + j) * HD4 + sub * DPT4;
  // Straight-line code over the thread's DPT4 vec4s and the tile's BK keys (#for): SwiftShader
  // runs loops over function-scope arrays several times slower (see src/gpu/pipelines.ts).
#for E in 0..{{DPT4}}
  let qr{{E}} = q[qo + {{E}}u] * SCALE;
  var acc{{E}} = vec4<f32>(0.0);
#endfor
  var m = NEG_BIG;
  var l = 0.0;
  let kv_base = h * MAXCTX;

  for (var k0 = 0u; k0 < kv_end; k0 += BK) {
    // Stage the tile (keys past kv_end are never read from it: masked below).
    let tile = min(BK, kv_end - k0) * HD4;
    let tb = (kv_base + k0) * HD4;
    for (var i = lid; i < tile; i += WG) {
      ks[i] = kc[tb + i];
      vs[i] = vc[tb + i];
    }
    workgroupBarrier();
    // (1) This thread's slice of the dot product with every key of the tile.
#for K in 0..{{BK}}
    {
      let kb = {{K}}u * HD4 + sub * DPT4;
      var d4 = vec4<f32>(0.0);
#for E in 0..{{DPT4}}
      d4 += qr{{E}} * ks[kb + {{E}}u];
#endfor
      ps[(r * BK + {{K}}u) * TPR + sub] = d4.x + d4.y + d4.z + d4.w;
    }
#endfor
    workgroupBarrier();
    // (2) The row's scores, the causal mask, the online softmax and p · V over this slice.
    var tm = NEG_BIG;
#for K in 0..{{BK}}
    var s{{K}} = 0.0;
#for U in 0..{{TPR}}
    s{{K}} += ps[(r * BK + {{K}}u) * TPR + {{U}}u];
#endfor
    let ok{{K}} = k0 + {{K}}u < kv_end && k0 + {{K}}u <= limit;
    s{{K}} = select(NEG_BIG, s{{K}}, ok{{K}});
    tm = max(tm, s{{K}});
#endfor
    let nm = max(m, tm);
    let alpha = exp(m - nm);
    m = nm;
    l *= alpha;
#for E in 0..{{DPT4}}
    acc{{E}} *= alpha;
#endfor
#for K in 0..{{BK}}
    if (ok{{K}}) {
      let p = exp(s{{K}} - nm);
      l += p;
      let vb = {{K}}u * HD4 + sub * DPT4;
#for E in 0..{{DPT4}}
      acc{{E}} += p * vs[vb + {{E}}u];
#endfor
    }
#endfor
    workgroupBarrier();
  }
  if (valid) {
    let inv = 1.0 / l;
    let ob = (t * NH + h * G + j) * HD4 + sub * DPT4;
#for E in 0..{{DPT4}}
    out[ob + {{E}}u] = acc{{E}} * inv;
#endfor
  }
}
