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

const TT: u32 = {{TT}}u;
const RR: u32 = {{RR}}u;
const RH: u32 = {{RH}}u;
const WG: u32 = {{WG}}u;
const TPR: u32 = {{TPR}}u;
const ROWS_PER_WG: u32 = {{ROWS_PER_WG}}u;

// Shape and placement, written once at bind time (one per weight part). In a uniform rather than
// compiled in, so one pipeline per type and variant serves every shape of a model.
struct Part {
  rows: u32,       // rows in this part
  outBase: u32,    // output index of the part's first row (outputOffset + part.rowStart)
  inBase4: u32,    // input offset in vec4s
  scale: f32,      // per-tensor scale (I2_S), else 1
  rowBytes: u32,
  rowChunks: u32,  // chunks per row
  xStride4: u32,   // vec4s between tokens' inputs
  yStride: u32,    // floats between tokens' outputs
  maxT: u32,       // token count when there are no step params
  eps: f32,        // NORM_IN: the norm's epsilon
  invCols: f32,    // NORM_IN: 1 / row length
  seg1: u32,       // OUT2: first row written to Y1
  seg2: u32,       // OUT3: first row written to Y2
  y1Stride: u32,   // OUT2: floats between tokens' outputs in Y1
  y2Stride: u32,   // OUT3: floats between tokens' outputs in Y2
  scale1: f32,     // OUT2: the scale of rows [seg1, seg2); GLU: of the up rows
  scale2: f32,     // OUT3: the scale of rows [seg2, rows)
}

@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> part: Part;
#if DYNAMIC_T
// The caller's step parameters: word 1 is the number of tokens in this call (src/kernels/step-params.ts).
@group(0) @binding(4) var<uniform> step: vec4<u32>;
#endif
#if USES_W4
// The same weight buffer seen as 16-byte words, for decoders whose fields are 16-byte aligned.
@group(0) @binding(5) var<storage, read> W4: array<vec4<u32>>;
#endif

#if NORM_IN
@group(0) @binding(6) var<storage, read> G: array<vec4<f32>>;   // the norm weight [cols]
#endif
#if OUT2
@group(0) @binding(7) var<storage, read_write> Y1: array<f32>;
#endif
#if OUT3
@group(0) @binding(8) var<storage, read_write> Y2: array<f32>;
#endif
#if GLU
alias T = f32;
#include "act"
#endif

// One chunk of input: CW vec4s, and (types with a block min) the sum of each of the NG groups;
// with NORM_IN, q = the sum of the raw inputs' squares.
struct Xq {
#for I in 0..{{CW}}
  x{{I}}: vec4<f32>,
#endfor
  s: vec4<f32>,
  q: f32,
}

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

fn with_sums(x0: Xq) -> Xq {
  var x = x0;
#if HAS_MIN
#for G in 0..{{NG}}
  var t{{G}} = vec4<f32>(0.0);
#for J in 0..{{GS}}
  t{{G}} += x.x{{G * GS + J}};
#endfor
  x.s[{{G}}] = (t{{G}}.x + t{{G}}.y) + (t{{G}}.z + t{{G}}.w);
#endfor
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

#if TERNARY
// Add-only: each activation is added, subtracted or skipped by its code (0 → −x, 1 → skip,
// 2 → +x; 3 — never written by quantizers — is +2x as in ggml, on a path taken only when the
// chunk holds one). The codes become select masks once per chunk (Tm), reused by every token of
// the tile; the one multiply is the block scale d, once per chunk and token.
struct Tm {
#for I in 0..{{CW}}
  p{{I}}: vec4<bool>,
  n{{I}}: vec4<bool>,
  t{{I}}: vec4<bool>,
#endfor
  d: f32,
  has3: bool,
}
fn decode_chunk(bo: u32, c: u32) -> Tm {
  let q = decode_t(bo, c);
  var m: Tm;
  m.d = q.d;
  m.has3 = q.has3;
#for I in 0..{{CW}}
  m.p{{I}} = q.c{{I}} >= vec4<u32>(2u);
  m.n{{I}} = q.c{{I}} == vec4<u32>(0u);
#endfor
  // `var m` starts all false; code-3 masks only when the chunk has one.
  if (q.has3) {
#for I in 0..{{CW}}
    m.t{{I}} = q.c{{I}} == vec4<u32>(3u);
#endfor
  }
  return m;
}
fn chunk_dot(w: Tm, x: Xq) -> f32 {
  let z = vec4<f32>(0.0);
  var v = z;
#for I in 0..{{CW}}
  v += select(z, x.x{{I}}, w.p{{I}}) - select(z, x.x{{I}}, w.n{{I}});
#endfor
  if (w.has3) {
#for I in 0..{{CW}}
    v += select(z, x.x{{I}}, w.t{{I}});
#endfor
  }
  return w.d * ((v.x + v.y) + (v.z + v.w));
}
#else
fn chunk_dot(w: Dq, x: Xq) -> f32 {
  var r = 0.0;
#for G in 0..{{NG}}
  var s{{G}} = 0.0;
#for J in 0..{{GS}}
  s{{G}} += dot(w.v{{G * GS + J}}, x.x{{G * GS + J}});
#endfor
  r += w.a[{{G}}] * s{{G}};
#if HAS_MIN
  r += w.m[{{G}}] * x.s[{{G}}];
#endif
#endfor
  return r;
}
fn decode_chunk(bo: u32, c: u32) -> Dq { return decode_q(bo, c); }
#endif

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

// Row r of token tok: v0 (with GLU the gate, v1 its up row; ss the input's sum of squares with
// NORM_IN) scaled and activated as the fusions say, then stored.
fn store(r: u32, tok: u32, nT: u32, v0: f32, v1: f32, ss: f32) {
  if (r >= part.rows || tok >= nT) { return; }
#if NORM_IN
  let n = inverseSqrt(ss * part.invCols + part.eps);
#else
  let n = 1.0;
#endif
#if GLU
  let v = {{ACT}}(v0 * part.scale * n) * (v1 * part.scale1 * n);
#else
  var k = part.scale;
#if OUT2
  if (r >= part.seg2) { k = part.scale2; } else if (r >= part.seg1) { k = part.scale1; }
#endif
  let v = v0 * k * n;
#endif
#if OUT3
  if (r >= part.seg2) {
    Y2[tok * part.y2Stride + r - part.seg2] = v;
    return;
  }
#endif
#if OUT2
  if (r >= part.seg1) {
    Y1[tok * part.y1Stride + r - part.seg1] = v;
    return;
  }
#endif
  let i = tok * part.yStride + part.outBase + r;
#if ADD_OUT
  Y[i] = Y[i] + v;
#else
  Y[i] = v;
#endif
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
