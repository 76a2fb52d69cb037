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
const DPT4: u32 = HD4 / TPR;
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
  var qr: array<vec4<f32>, DPT4>;
  for (var e = 0u; e < DPT4; e++) { qr[e] = q[qo + e] * SCALE; }
  var acc: array<vec4<f32>, DPT4>;
  var m = NEG_BIG;
  var l = 0.0;
  let kv_base = h * MAXCTX;

  for (var k0 = 0u; k0 < kv_end; k0 += BK) {
    // Stage the tile (keys past kv_end are never read from it).
    let tile = min(BK, kv_end - k0) * HD4;
    let tb = (kv_base + k0) * HD4;
    for (var i = lid; i < tile; i += WG) {
      ks[i] = kc[tb + i];
      vs[i] = vc[tb + i];
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let kp = k0 + kk;
      var d4 = vec4<f32>(0.0);
      if (kp < kv_end) {
        let kb = kk * HD4 + sub * DPT4;
        for (var e = 0u; e < DPT4; e++) { d4 += qr[e] * ks[kb + e]; }
      }
      ps[(r * BK + kk) * TPR + sub] = d4.x + d4.y + d4.z + d4.w;
    }
    workgroupBarrier();
    var sv: array<f32, BK>;
    var tm = NEG_BIG;
    for (var kk = 0u; kk < BK; kk++) {
      let kp = k0 + kk;
      var s = 0.0;
      for (var u = 0u; u < TPR; u++) { s += ps[(r * BK + kk) * TPR + u]; }
      sv[kk] = select(NEG_BIG, s, kp < kv_end && kp <= limit);
      tm = max(tm, sv[kk]);
    }
    let nm = max(m, tm);
    let alpha = exp(m - nm);
    m = nm;
    l *= alpha;
    for (var e = 0u; e < DPT4; e++) { acc[e] *= alpha; }
    for (var kk = 0u; kk < BK; kk++) {
      let kp = k0 + kk;
      if (kp < kv_end && kp <= limit) {
        let p = exp(sv[kk] - nm);
        l += p;
        let vb = kk * HD4 + sub * DPT4;
        for (var e = 0u; e < DPT4; e++) { acc[e] += p * vs[vb + e]; }
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    let inv = 1.0 / l;
    let ob = (t * NH + h * G + j) * HD4 + sub * DPT4;
    for (var e = 0u; e < DPT4; e++) { out[ob + e] = acc[e] * inv; }
  }
}
