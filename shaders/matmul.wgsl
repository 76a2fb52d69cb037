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
#include "bytes"
#include "{{DECODER}}"

const TT: u32 = {{TT}}u;
const RR: u32 = {{RR}}u;
const WG: u32 = {{WG}}u;
const TPR: u32 = {{TPR}}u;
const ROWS_PER_WG: u32 = {{ROWS_PER_WG}}u;

#include "matmul_io"
#include "chunk"

// Input chunk c of block column `col` for the token whose row starts at vec4 index `xb`.
fn load_x(xb: u32, col: u32, c: u32) -> Xq {
  var x: Xq;
#for I in 0..{{CW}}
  x.x{{I}} = X[xb + ((col + chunk_x(c, {{I}}u)) >> 2u)];
#endfor
  return with_sums(x);
}

#if MODE_WGROW
var<workgroup> red: array<f32, WG * RR * TT>;
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
  for (var g = lid / sgsize; g * RR < ROWS_PER_WG; g += nsg) {
    let rbase = row0 + g * RR;
    if (rbase >= part.rows) { break; }
#endif
#if MODE_THREAD
  let first = 0u;
  let stride = 1u;
  let rbase = row0 + lid * RR;
  {
#endif
#if MODE_WGROW
  let first = lid % TPR;
  let stride = TPR;
  let rbase = row0 + (lid / TPR) * RR;
  {
#endif
    // Rows past the part recompute the last row (keeps control flow uniform); never stored.
#for R in 0..{{RR}}
    let rb{{R}} = min(rbase + {{R}}u, part.rows - 1u) * part.rowBytes;
#for T in 0..{{TT}}
    var acc{{R}}_{{T}} = 0.0;
#endfor
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
#endfor
#for R in 0..{{RR}}
      let w{{R}} = decode_chunk(rb{{R}} + b * QB, c);
#for T in 0..{{TT}}
      acc{{R}}_{{T}} += chunk_dot(w{{R}}, xs{{T}});
#endfor
#endfor
#else
      // Decode once, stream the tile's tokens (keeps registers low on GPUs).
#for R in 0..{{RR}}
      let w{{R}} = decode_chunk(rb{{R}} + b * QB, c);
#for T in 0..{{TT}}
      acc{{R}}_{{T}} += chunk_dot(w{{R}}, load_x(xb{{T}}, col, c));
#endfor
#endfor
#endif
    }

#if MODE_SGROW
#for R in 0..{{RR}}
#for T in 0..{{TT}}
    let s{{R}}_{{T}} = subgroupAdd(acc{{R}}_{{T}});
    if (lane == 0u) { store(rbase + {{R}}u, t0 + {{T}}u, nT, s{{R}}_{{T}}); }
#endfor
#endfor
#endif
#if MODE_THREAD
#for R in 0..{{RR}}
#for T in 0..{{TT}}
    store(rbase + {{R}}u, t0 + {{T}}u, nT, acc{{R}}_{{T}});
#endfor
#endfor
#endif
#if MODE_WGROW
    let slot = lid * RR * TT;
#for R in 0..{{RR}}
#for T in 0..{{TT}}
    red[slot + {{R}}u * TT + {{T}}u] = acc{{R}}_{{T}};
#endfor
#endfor
  }
  workgroupBarrier();
  if (lid % TPR == 0u) {
    let rbase = row0 + (lid / TPR) * RR;
    for (var i = 0u; i < RR * TT; i++) {
      var s = 0.0;
      for (var j = 0u; j < TPR; j++) { s += red[(lid + j) * RR * TT + i]; }
      store(rbase + i / TT, t0 + i % TT, nT, s);
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
  return with_sums(x);
}
#endif
