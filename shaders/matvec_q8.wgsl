// Mat-vec with int8 activations (W8A8, W4A8, W1.58A8) over one row-part of a quantized weight:
//   Y[outBase + r] = scale · Σ_col W[r, col] · x[col]
// with x quantized by quantize_q8.wgsl to int8 per 32-element block (scale d, sum s = d·Σq).
// The included int8 decoder (DECODER8) turns one chunk of a weight block (NXB activation blocks
// of 32 elements) into packed int8 words (unpack_q8) and takes their dot products with the
// activation words four at a time (dot_unpacked, dot4I8Packed), accumulating in i32 within each
// block; the block scales (weight and activation) are applied once per block, in f32. Modes as in matmul.wgsl (thread-row,
// subgroup-row, workgroup-row).
// NT tokens (a batched decode step: one row per sequence, src/runtime/batch-decode.ts): token t's
// activations start part.xStride4 words after token t − 1's, its outputs part.yStride floats
// after. Each thread loads a chunk's activations of every token, then per weight row unpacks the
// chunk once (unpack_q8: loads, bit work, scales) and takes the NT products with the unpacked
// words (dot_unpacked): one pass over the weights, and one decode, serves every token. Every
// token's sums run in the order of NT = 1: a token's outputs do not depend on how many tokens
// share the dispatch.
// With SWAR (types with codes of ≤ 4 bits, on software devices, where dot4I8Packed is emulated
// and dominates), the products are taken without it: see swar_dot().
//
// The fusions of the f32 mat-vec, through the same store (common/matmul_io.wgsl): NORM_IN (the
// quantizer multiplied x by the norm weight and kept each block's sum of squares of x, summed
// here to 1/rms), GLU (RR counts gate and up rows, RH the output rows of a row group), ADD_OUT,
// OUT2/OUT3 (Q/K/V split). And one of its own, QOUT: the workgroup's ROWS_PER_WG outputs (whole
// 32-row blocks) are kept in workgroup memory as stored and quantized after a barrier into XQO,
// with QOUT_NORM multiplied by GQ first (the next linear's norm weight): the next int8 mat-vec's
// input without a quantize dispatch.
#include "bytes"
#include "{{DECODER8}}"
#include "block_at"
#include "q8_dot"

const RR: u32 = {{RR}}u;
const RH: u32 = {{RH}}u;
const WG: u32 = {{WG}}u;
const TPR: u32 = {{TPR}}u;
const ROWS_PER_WG: u32 = {{ROWS_PER_WG}}u;
const NT: u32 = {{NT}}u;

#include "matmul_io"
#if GLU
alias T = f32;
#include "act"
#endif
#if QOUT
#include "q8_block"
@group(0) @binding(9) var<storage, read_write> XQO: array<vec4<u32>>;
#if QOUT_NORM
@group(0) @binding(10) var<storage, read> GQ: array<vec4<f32>>;
#endif
var<workgroup> qv: array<vec4<f32>, NT * ROWS_PER_WG / 4u>;

// The value stored at part row r of token tok, kept for the quantizing store (called by matmul_io's store).
fn qout_keep(r: u32, tok: u32, y: f32) {
  let i = tok * ROWS_PER_WG + r % ROWS_PER_WG;
  qv[i / 4u][i % 4u] = y;
}
#endif

// The quantized activations of matvec_q8's tokens, as q8_dot's load_xq reads them: token t's
// blocks start part.xStride4 words after token t − 1's.
fn xq_word(i: u32) -> vec4<u32> { return XQ[i]; }
fn xq_block_word(t: u32, b: u32, c: u32, k: u32) -> u32 { return t * part.xStride4 + XQ_WORDS_IN * (b * (QK / 32u) + xblock(c, k)); }

#if MODE_WGROW
var<workgroup> red: array<f32, WG * RR * NT>;
#if NORM_IN
var<workgroup> red_ss: array<f32, WG * NT>;
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
  if (row0 >= part.rows) { return; }
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
    // acc{R}_{T}: weight row R with token T.
#for R in 0..{{RR}}
    let rb{{R}} = (min(rbase + {{R % RH}}u, part.rows - 1u) + {{R / RH}}u * part.rows) * part.rowBytes;
#for T in 0..{{NT}}
    var acc{{R}}_{{T}} = 0.0;
#endfor
#endfor
#for T in 0..{{NT}}
    var ss{{T}} = 0.0;
#endfor
    let rowChunks = part.rowChunks;
    for (var k = first; k < rowChunks; k += stride) {
      let b = k / NCH;
      let c = k % NCH;
#for T in 0..{{NT}}
      let x{{T}} = load_xq({{T}}u, b, c);
#if NORM_IN
#for K in 0..{{NXB}}
      ss{{T}} += x{{T}}.r{{K}};
#endfor
#endif
#endfor
#for R in 0..{{RR}}
      let w{{R}} = unpack_q8(block_at(rb{{R}}, b), c);
#for T in 0..{{NT}}
      acc{{R}}_{{T}} += dot_unpacked(w{{R}}, x{{T}});
#endfor
#endfor
    }
#if MODE_SGROW
#for T in 0..{{NT}}
#for R in 0..{{RR}}
    acc{{R}}_{{T}} = subgroupAdd(acc{{R}}_{{T}});
#endfor
#if NORM_IN
    ss{{T}} = subgroupAdd(ss{{T}});
#endif
#endfor
    if (lane == 0u) {
#endif
#if !MODE_WGROW
#for T in 0..{{NT}}
#for R in 0..{{RH}}
#if GLU
      store(rbase + {{R}}u, {{T}}u, NT, acc{{R}}_{{T}}, acc{{R + RH}}_{{T}}, ss{{T}});
#else
      store(rbase + {{R}}u, {{T}}u, NT, acc{{R}}_{{T}}, 0.0, ss{{T}});
#endif
#endfor
#endfor
#endif
#if MODE_SGROW
    }
#endif
#if MODE_WGROW
#for T in 0..{{NT}}
#for R in 0..{{RR}}
    red[(lid * RR + {{R}}u) * NT + {{T}}u] = acc{{R}}_{{T}};
#endfor
#if NORM_IN
    red_ss[lid * NT + {{T}}u] = ss{{T}};
#endif
#endfor
  }
  workgroupBarrier();
  if (lid % TPR == 0u) {
    let rbase = row0 + (lid / TPR) * RH;
    for (var t = 0u; t < NT; t++) {
      for (var i = 0u; i < RH; i++) {
        var s = 0.0;
        var u = 0.0;
        var q = 0.0;
        for (var j = 0u; j < TPR; j++) {
          s += red[((lid + j) * RR + i) * NT + t];
#if GLU
          u += red[((lid + j) * RR + i + RH) * NT + t];
#endif
#if NORM_IN
          q += red_ss[(lid + j) * NT + t];
#endif
        }
        store(rbase + i, t, NT, s, u, q);
      }
    }
#endif
  }
#if QOUT
  // Every output row of the workgroup is kept: quantize its 32-row blocks, token by token (token
  // t's blocks part.yStride / 32 after token t − 1's).
  workgroupBarrier();
  let wgBlocks = ROWS_PER_WG / 32u;
  for (var j = lid; j < NT * wgBlocks; j += WG) {
    let r = row0 + 32u * (j % wgBlocks);
    if (r < part.rows) {
      let rowBlk = (part.outBase + r) / 32u;
      let blk = (j / wgBlocks) * (part.yStride / 32u) + rowBlk;
      var ss = vec4<f32>(0.0);
#for I in 0..8
      let y{{I}} = qv[8u * j + {{I}}u];
      ss += y{{I}} * y{{I}};
#if QOUT_NORM
      let g{{I}} = y{{I}} * GQ[8u * rowBlk + {{I}}u];
#else
      let g{{I}} = y{{I}};
#endif
#endfor
      q8_store(blk, g0, g1, g2, g3, g4, g5, g6, g7, (ss.x + ss.y) + (ss.z + ss.w));
    }
  }
#endif
}
