// Fused dequant mat-vec (TT = 1, one token) and mat-mul (TT tokens per thread, a tile of the
// prefill batch per dispatch z) over one row-part of a quantized weight:
//   Y[tok·YSTRIDE + outBase + r] = scale · Σ_col W[r, col] · X[inBase + tok·XSTRIDE + col]
// The weight stays in GGUF layout; the included decoder (`{{DECODER}}`) turns one chunk of a
// block (16 or 32 weights) into registers and accumulates it against every token of the tile
// (shaders/common/qacc.wgsl), so a chunk is decoded once per TT tokens.
//
// Work split: a workgroup owns RPW consecutive rows. With subgroups, each subgroup takes a row at
// a time, its lanes stride over the row's chunks and subgroupAdd reduces them: no workgroup
// memory, no barrier (barriers are expensive on SwiftShader, and a subgroup reduction costs one
// instruction on GPUs). Without subgroups, TPR threads share a row and reduce through workgroup
// memory with one barrier (TPR = 1: a thread per row, no reduction at all).
#include "bytes"
#include "qacc"
#include "{{DECODER}}"

const TT: u32 = {{TT}}u;
const WG: u32 = {{WG}}u;
const RPW: u32 = {{RPW}}u;
const TPR: u32 = {{TPR}}u;
const ROW_BYTES: u32 = {{ROW_BYTES}}u;
const ROW_CHUNKS: u32 = {{ROW_CHUNKS}}u;
const XSTRIDE4: u32 = {{XSTRIDE4}}u;
const YSTRIDE: u32 = {{YSTRIDE}}u;

// One per weight part, written once at bind time.
struct Part {
  rows: u32,     // rows in this part
  outBase: u32,  // output index of the part's first row (outputOffset + part.rowStart)
  inBase4: u32,  // input offset in vec4s
  scale: f32,    // per-tensor scale (I2_S), else 1
}

@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> part: Part;
#if DYNAMIC_T
// The caller's step parameters: word 1 is the number of tokens in this step (src/kernels/step-params.ts).
@group(0) @binding(4) var<uniform> step: vec4<u32>;
#endif

var<private> acc: array<f32, TT>;
// Input vec4 index of each tile token's row (tokens past the batch re-read the last one).
var<private> xrow: array<u32, TT>;

fn xv(t: u32, col: u32) -> vec4<f32> { return X[xrow[t] + (col >> 2u)]; }

fn row_dot(r: u32, first: u32, stride: u32) {
  for (var t = 0u; t < TT; t++) { acc[t] = 0.0; }
  let rb = r * ROW_BYTES;
  for (var k = first; k < ROW_CHUNKS; k += stride) {
    let b = k / NCH;
    chunk_dot(rb + b * QB, k % NCH, b * QK);
  }
}

fn store(r: u32, t0: u32, nT: u32, t: u32, v: f32) {
  if (t0 + t < nT) { Y[(t0 + t) * YSTRIDE + part.outBase + r] = v * part.scale; }
}

#if !SUBGROUPS
var<workgroup> red: array<f32, WG * TT>;
#endif

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sgsize: u32,
#endif
) {
  let row0 = (wid.x + wid.y * nwg.x) * RPW;
#if DYNAMIC_T
  let nT = step.y;
#else
  let nT = {{MAXT}}u;
#endif
  let t0 = wid.z * TT;
  if (t0 >= nT || row0 >= part.rows) { return; }
  for (var t = 0u; t < TT; t++) { xrow[t] = part.inBase4 + min(t0 + t, nT - 1u) * XSTRIDE4; }
#if SUBGROUPS
  let nsg = (WG + sgsize - 1u) / sgsize;
  for (var rr = lid / sgsize; rr < RPW; rr += nsg) {
    let r = row0 + rr;
    if (r >= part.rows) { break; }
    row_dot(r, lane, sgsize);
    for (var t = 0u; t < TT; t++) {
      let s = subgroupAdd(acc[t]);
      if (lane == 0u) { store(r, t0, nT, t, s); }
    }
  }
#else
  let rr = lid / TPR;
  let li = lid % TPR;
  let r = row0 + rr;
  if (r < part.rows) {
    row_dot(r, li, TPR);
  } else {
    for (var t = 0u; t < TT; t++) { acc[t] = 0.0; }
  }
  if (TPR == 1u) {
    if (r < part.rows) {
      for (var t = 0u; t < TT; t++) { store(r, t0, nT, t, acc[t]); }
    }
    return;
  }
  for (var t = 0u; t < TT; t++) { red[lid * TT + t] = acc[t]; }
  workgroupBarrier();
  if (li == 0u && r < part.rows) {
    for (var t = 0u; t < TT; t++) {
      var s = 0.0;
      for (var i = 0u; i < TPR; i++) { s += red[(lid + i) * TT + t]; }
      store(r, t0, nT, t, s);
    }
  }
#endif
}
