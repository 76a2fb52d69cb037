// Fused dequant mat-vec (TT = 1) and mat-mul (TT tokens per thread) over one row-part of a
// quantized weight:
//   Y[tok·yStride + outBase + r] = scale · Σ_col W[r, col] · X[inBase + tok·xStride + col]
// The weight stays quantized in GPU memory; the included decoder (DECODER) turns one chunk
// of a block (CW vec4s of weights) into registers (struct Dq, or Tq for ternary codes), which is
// then dotted with every token of the tile (mat-mul) or with the chunk's input held in registers
// for RR rows (mat-vec). All inner code is unrolled with #for (no arrays, no inner loops).
//
// Modes (one of the MODE_* defines):
//   MODE_SGROW    a subgroup per RR rows; lanes stride over the row's chunks, subgroupAdd at the end
//                 (no workgroup memory, no barrier) — GPUs with subgroups.
//   MODE_THREAD   a thread per RR rows, whole rows, no reduction. With SHARE_X the lanes of a
//                 subgroup (all at the same chunk) load the input chunk once between them and
//                 pass it on with subgroupBroadcast — software devices (SwiftShader runs a
//                 subgroup as one SIMD register; each lane's load is a separate gather there).
//   MODE_WGROW    TPR threads per RR rows, one barrier and a workgroup-memory sum — GPUs without
//                 subgroups.
//
// Optional fusions (decode's fewer dispatches, docs/kernels.md), all off by default:
//   NORM_IN  RMSNorm of the input in the load: each loaded x is multiplied by the norm weight G
//            and its square summed over the row, and the dot product by 1/rms at the store —
//            W·(G∘x/rms) = (W·(G∘x))/rms, so no separate norm kernel writes a normalised copy.
//   GLU      the weight holds [gate; up] (2·rows rows): each row group decodes its gate rows and
//            their up rows, and stores act(gate)·up (ACT = silu, gelu or relu2).
//   ADD_OUT  Y += result (the residual add of an output or down projection).
//   OUT2     rows [0, seg1) go to Y, [seg1, seg2) to Y1, and with OUT3 [seg2, rows) to Y2 (a
//            fused Q/K/V, or Q/K when V's type differs).
// RH is the output rows of a row group: RR, or RR / 2 with GLU (RR counts gate and up rows).
#include "bytes"
#include "{{DECODER}}"
#include "block_at"

const TT: u32 = {{TT}}u;
const RR: u32 = {{RR}}u;
const RH: u32 = {{RH}}u;
const WG: u32 = {{WG}}u;
const TPR: u32 = {{TPR}}u;
const ROWS_PER_WG: u32 = {{ROWS_PER_WG}}u;

#include "matmul_io"
#include "chunk"
#if GLU
alias T = f32;
#include "act"
#endif

// NORM_IN: squares of the raw chunk summed, then the chunk scaled by the norm weight. A chunk's
// padding vec4s (TQ1_0's, weight 0) repeat the block's element 0, which every decoder covers
// at chunk 0, vec4 0: only that one is counted.
fn norm_in(x0: Xq, col: u32, c: u32) -> Xq {
  var x = x0;
#if NORM_IN
  var q = vec4<f32>(0.0);
#for I in 0..{{CW}}
  q += select(vec4<f32>(0.0), x.x{{I}} * x.x{{I}}, chunk_x(c, {{I}}u) != 0u || (c == 0u && {{I}}u == 0u));
  x.x{{I}} *= G[(col + chunk_x(c, {{I}}u)) >> 2u];
#endfor
  x.q = (q.x + q.y) + (q.z + q.w);
#endif
  return x;
}


// Input chunk c of block column `col` for the token whose row starts at vec4 index `xb`.
fn load_x(xb: u32, col: u32, c: u32) -> Xq {
  var x: Xq;
#for I in 0..{{CW}}
  x.x{{I}} = X[xb + ((col + chunk_x(c, {{I}}u)) >> 2u)];
#endfor
  return with_sums(norm_in(x, col, c));
}

#if MODE_WGROW
var<workgroup> red: array<f32, WG * RR * TT>;
#if NORM_IN
var<workgroup> red_ss: array<f32, WG * TT>;
#endif
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
  let row0 = (wid.x + wid.y * nwg.x) * ROWS_PER_WG;
#if DYNAMIC_T
  let nT = step.y;
#else
  let nT = part.maxT;
#endif
  let t0 = wid.z * TT;
  if (t0 >= nT || row0 >= part.rows) { return; }
  // Input rows of the tile's tokens (tokens past the batch re-read the last one; not stored).
#for T in 0..{{TT}}
  let xb{{T}} = part.inBase4 + min(t0 + {{T}}u, nT - 1u) * part.xStride4;
#endfor

#if MODE_SGROW
  let nsg = (WG + sgsize - 1u) / sgsize;
  let first = lane;
  let stride = sgsize;
  for (var g = lid / sgsize; g * RH < ROWS_PER_WG; g += nsg) {
    let rbase = row0 + g * RH;
    if (rbase >= part.rows) { break; }
#endif
#if MODE_THREAD
  let first = 0u;
  let stride = 1u;
  let rbase = row0 + lid * RH;
  {
#endif
#if MODE_WGROW
  let first = lid % TPR;
  let stride = TPR;
  let rbase = row0 + (lid / TPR) * RH;
  {
#endif
    // Rows past the part recompute the last row (keeps control flow uniform); never stored.
    // With GLU, rows RH… of the group are the up rows, part.rows further on.
#for R in 0..{{RR}}
    let rb{{R}} = (min(rbase + {{R % RH}}u, part.rows - 1u) + {{R / RH}}u * part.rows) * part.rowBytes;
#for T in 0..{{TT}}
    var acc{{R}}_{{T}} = 0.0;
#endfor
#endfor
#for T in 0..{{TT}}
    var ss{{T}} = 0.0;
#endfor
    let rowChunks = part.rowChunks;
    for (var k = first; k < rowChunks; k += stride) {
      let b = k / NCH;
      let c = k % NCH;
      let col = b * QK;
#if PRELOAD_X
      // The chunk's input for every tile token in registers, then each row decoded once.
#for T in 0..{{TT}}
#if SHARE_X
      let xs{{T}} = share_x(xb{{T}}, col, c, lane);
#else
      let xs{{T}} = load_x(xb{{T}}, col, c);
#endif
      ss{{T}} += xs{{T}}.q;
#endfor
#for R in 0..{{RR}}
      let w{{R}} = decode_chunk(block_at(rb{{R}}, b), c);
#for T in 0..{{TT}}
      acc{{R}}_{{T}} += chunk_dot(w{{R}}, xs{{T}});
#endfor
#endfor
#else
      // Decode once, stream the tile's tokens (keeps registers low on GPUs).
#for R in 0..{{RR}}
      let w{{R}} = decode_chunk(block_at(rb{{R}}, b), c);
#for T in 0..{{TT}}
      acc{{R}}_{{T}} += chunk_dot(w{{R}}, load_x(xb{{T}}, col, c));
#endfor
#endfor
#endif
    }

#if MODE_SGROW
#for R in 0..{{RR}}
#for T in 0..{{TT}}
    acc{{R}}_{{T}} = subgroupAdd(acc{{R}}_{{T}});
#endfor
#endfor
#if NORM_IN
#for T in 0..{{TT}}
    ss{{T}} = subgroupAdd(ss{{T}});
#endfor
#endif
    if (lane == 0u) {
#endif
#if !MODE_WGROW
#for R in 0..{{RH}}
#for T in 0..{{TT}}
#if GLU
    store(rbase + {{R}}u, t0 + {{T}}u, nT, acc{{R}}_{{T}}, acc{{R + RH}}_{{T}}, ss{{T}});
#else
    store(rbase + {{R}}u, t0 + {{T}}u, nT, acc{{R}}_{{T}}, 0.0, ss{{T}});
#endif
#endfor
#endfor
#endif
#if MODE_SGROW
    }
#endif
#if MODE_WGROW
    let slot = lid * RR * TT;
#for R in 0..{{RR}}
#for T in 0..{{TT}}
    red[slot + {{R}}u * TT + {{T}}u] = acc{{R}}_{{T}};
#endfor
#endfor
#if NORM_IN
#for T in 0..{{TT}}
    red_ss[lid * TT + {{T}}u] = ss{{T}};
#endfor
#endif
  }
  workgroupBarrier();
  if (lid % TPR == 0u) {
    let rbase = row0 + (lid / TPR) * RH;
    // Entry i = R·TT + T; with GLU its up partner is RH·TT entries on.
    for (var i = 0u; i < RH * TT; i++) {
      var s = 0.0;
      var u = 0.0;
      var q = 0.0;
      for (var j = 0u; j < TPR; j++) {
        s += red[(lid + j) * RR * TT + i];
#if GLU
        u += red[(lid + j) * RR * TT + i + RH * TT];
#endif
#if NORM_IN
        q += red_ss[(lid + j) * TT + i % TT];
#endif
      }
      store(rbase + i / TT, t0 + i % TT, nT, s, u, q);
    }
#endif
  }
}

#if SHARE_X
// Input chunk loaded by the subgroup's lanes together (SGX lanes, each loading every SGX-th
// vec4) and handed out with subgroupBroadcast; every lane is at the same chunk in MODE_THREAD.
fn share_x(xb: u32, col: u32, c: u32, lane: u32) -> Xq {
  var x: Xq;
#for J in 0..{{CW_SG}}
  let v{{J}} = X[xb + ((col + chunk_x(c, {{J}}u * {{SGX}}u + lane)) >> 2u)];
#endfor
#for I in 0..{{CW}}
  x.x{{I}} = subgroupBroadcast(v{{I / SGX}}, {{I % SGX}}u);
#endfor
  return with_sums(norm_in(x, col, c));
}
#endif
