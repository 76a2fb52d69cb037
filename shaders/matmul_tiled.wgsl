// Tiled GEMM over one row-part of a quantized weight (prefill):
//   Y[tok·yStride + outBase + r] = scale · Σ_col W[r, col] · X[inBase + tok·xStride + col]
// A workgroup computes a tile of BM = WR·RM rows × BN = WT·TN tokens. Its WG = WR·WT threads form
// a WR × WT grid; thread (ir, it) owns RM rows × TN tokens of outputs in registers
// (acc{r}_{t}): rows row0 + ir·RM + r, tokens t0 + it + WT·t (token threads interleaved, so the
// token threads of a row group read neighbouring input rows).
//
// The reduction walks the row one decoder chunk (CW vec4s = 4·CW columns) at a time:
//   1. the workgroup stages the chunk's input for all BN tokens in workgroup memory (xs), each
//      input vec4 loaded from global memory once per workgroup;
//   2. each thread decodes the chunk of its RM rows into registers once, as the weights
//      themselves (decode_weights: scales and mins applied), and multiply-adds it with each of
//      its TN tokens' input read from xs into vec4 accumulators: four lanes of partial sums per
//      output, added together once at the end, so the inner loop is FMAs only (no per-chunk
//      horizontal sums, scale multiplies or input group sums).
// So every weight is decoded once per token thread group (WT times per workgroup, once when
// WT = 1) and used for TN tokens, and every input value is read from global memory once per
// workgroup and used for RM rows per read from xs. The tile shape (WR, WT, RM, TN) is chosen per
// device in src/kernels/matmul-tiled.ts.
//
// Unless STAGE_X, step 1 is skipped (no workgroup memory, no barriers): each thread reads its
// tokens' chunk of input from global memory (shared across the subgroup with SHARE_X).
// With GLU the weight holds [gate; up] (2·rows rows): a thread decodes its rows' gate chunk and
// their up rows' chunk, keeps both sums, and stores act(gate)·up.
#include "bytes"
#include "{{DECODER}}"
#include "block_at"
#include "chunk"

const RM: u32 = {{RM}}u;
const TN: u32 = {{TN}}u;
const WT: u32 = {{WT}}u;
const WG: u32 = {{WG}}u;
const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
// vec4s of input staged per token and chunk.
const XS_TOKEN: u32 = {{CW}}u;

#include "matmul_io"
#if GLU
alias T = f32;
#include "act"
#endif

#if STAGE_X
var<workgroup> xs: array<vec4<f32>, BN * XS_TOKEN>;
#endif

// Vec4 v of the current chunk's input for token slot t: with STAGE_X the local token whose input
// the workgroup staged in xs; else a batch token (clamped), read from global memory. On a software
// device a workgroup-memory read costs several times a storage read, and a tile with one token
// thread reuses nothing across threads that staging would save.
#if STAGE_X
fn x_vec4(t: u32, b: u32, c: u32, v: u32) -> vec4<f32> {
  return xs[t * XS_TOKEN + v];
}
#else
fn x_vec4(t: u32, b: u32, c: u32, v: u32) -> vec4<f32> {
  return X[part.inBase4 + t * part.xStride4 + ((b * QK) >> 2u) + (chunk_x(c, v) >> 2u)];
}
#endif

// The current chunk's input of token slot t.
#if SHARE_X
// Every lane of the subgroup reads the same token (WT = 1): each reads every SGX-th vec4 and
// subgroupBroadcast hands them round (on software devices a lane's read is a separate gather).
fn chunk_x_of(t: u32, b: u32, c: u32, lane: u32) -> Xq {
#for J in 0..{{CW_SG}}
  let v{{J}} = x_vec4(t, b, c, lane + {{J * SGX}}u);
#endfor
  var x: Xq;
#for I in 0..{{CW}}
  x.x{{I}} = subgroupBroadcast(v{{I / SGX}}, {{I % SGX}}u);
#endfor
  return x;
}
#else
fn chunk_x_of(t: u32, b: u32, c: u32, lane: u32) -> Xq {
  var x: Xq;
#for I in 0..{{CW}}
  x.x{{I}} = x_vec4(t, b, c, {{I}}u);
#endfor
  return x;
}
#endif

fn hsum(a: vec4<f32>) -> f32 {
  return (a.x + a.y) + (a.z + a.w);
}

// acc + Σ_I w.v_I · x.x_I, lane by lane.
fn chunk_fma(w: Dq, x: Xq, acc: vec4<f32>) -> vec4<f32> {
  var a = acc;
#for I in 0..{{CW}}
  a = fma(w.v{{I}}, x.x{{I}}, a);
#endfor
  return a;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
#if SHARE_X
  @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
#if !SHARE_X
  let lane = 0u;
#endif
  let row0 = (wid.x + wid.y * nwg.x) * BM;
#if DYNAMIC_T
  let nT = step.y;
#else
  let nT = part.maxT;
#endif
  let t0 = wid.z * BN;
  // Uniform per workgroup, so the barriers below stay in uniform control flow.
  if (t0 >= nT || row0 >= part.rows) { return; }
  let ir = lid / WT;
  let it = lid % WT;
  // Rows past the part recompute the last row (uniform control flow); never stored.
#for R in 0..{{RM}}
  let rb{{R}} = min(row0 + ir * RM + {{R}}u, part.rows - 1u) * part.rowBytes;
#for T in 0..{{TN}}
  var acc{{R}}_{{T}} = vec4<f32>(0.0);
#endfor
#if GLU
  // The row's up partner, part.rows rows on in the [gate; up] weight.
  let ub{{R}} = rb{{R}} + part.rows * part.rowBytes;
#for T in 0..{{TN}}
  var up{{R}}_{{T}} = vec4<f32>(0.0);
#endfor
#endif
#endfor

  let rowChunks = part.rowChunks;
  for (var k = 0u; k < rowChunks; k++) {
    let b = k / NCH;
    let c = k % NCH;
#if STAGE_X
    let col = b * QK;
    // 1. Stage: BN tokens × CW vec4s; tokens past the batch re-read the last one (never stored).
    for (var i = lid; i < BN * XS_TOKEN; i += WG) {
      let tl = i / XS_TOKEN;
      let v = i % XS_TOKEN;
      let xb = part.inBase4 + min(t0 + tl, nT - 1u) * part.xStride4;
      xs[i] = X[xb + ((col + chunk_x(c, v)) >> 2u)];
    }
    workgroupBarrier();
#endif
    // 2. Decode this thread's rows once; every token of its tile reuses them.
#for R in 0..{{RM}}
    let w{{R}} = decode_weights(block_at(rb{{R}}, b), c);
#if GLU
    let u{{R}} = decode_weights(block_at(ub{{R}}, b), c);
#endif
#endfor
#for T in 0..{{TN}}
    {
#if STAGE_X
      let x = chunk_x_of(it + {{T}}u * WT, b, c, lane);
#else
      let x = chunk_x_of(min(t0 + it + {{T}}u * WT, nT - 1u), b, c, lane);
#endif
#for R in 0..{{RM}}
      acc{{R}}_{{T}} = chunk_fma(w{{R}}, x, acc{{R}}_{{T}});
#if GLU
      up{{R}}_{{T}} = chunk_fma(u{{R}}, x, up{{R}}_{{T}});
#endif
#endfor
    }
#endfor
#if STAGE_X
    workgroupBarrier();
#endif
  }

#for R in 0..{{RM}}
#for T in 0..{{TN}}
#if GLU
  store(row0 + ir * RM + {{R}}u, t0 + it + {{T}}u * WT, nT, hsum(acc{{R}}_{{T}}), hsum(up{{R}}_{{T}}), 0.0);
#else
  store(row0 + ir * RM + {{R}}u, t0 + it + {{T}}u * WT, nT, hsum(acc{{R}}_{{T}}), 0.0, 0.0);
#endif
#endfor
#endfor
}
