// Tiled GEMM with int8 activations (prefill; W8A8, W4A8, W1.58A8) over one row-part of a
// quantized weight:
//   Y[tok·yStride + outBase + r] = scale · Σ_col W[r, col] · x̂[tok, col]
// with each token's input row quantized by quantize_q8.wgsl to int8 per 32-element block
// (x̂ = d·q), token t's blocks from 16-byte word t·xStride4 of XQ. The tile is the f32 GEMM's
// (matmul_tiled.wgsl): BM = WR·RM rows × BN = WT·TN tokens per workgroup, thread (ir, it) owning
// RM rows × TN tokens (tokens t0 + it + WT·t) of i32-exact block sums scaled into f32
// accumulators. With GLU a thread also owns each row's up row (part.rows further on), so the
// store has gate and up together, as in the int8 mat-vec.
//
// The reduction walks the row one int8 decoder chunk (NXB activation blocks) at a time:
//   1. the workgroup stages the chunk's activation blocks for all BN tokens in workgroup memory
//      (only the words the products read: codes and scales, or with SWAR scales and lanes), each
//      read from global memory once per workgroup;
//   2. each thread takes, for each of its TN tokens, the chunk's products with its RR rows through
//      the type's dot8 decoder (dot_q8): the rows' words are the same for every token, so they are
//      loaded and unpacked to int8 once per chunk and reused TN times, and the products are exact
//      integer sums (dot4I8Packed or SWAR, as the int8 mat-vec chooses).
// Ragged tiles as in matmul_tiled.wgsl: rows past the part recompute the last row, tokens past
// the batch re-read the last token, neither is stored.
#include "bytes"
#include "{{DECODER8}}"
#include "q8_dot"

const RM: u32 = {{RM}}u;
const TN: u32 = {{TN}}u;
const WT: u32 = {{WT}}u;
const WG: u32 = {{WG}}u;
const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
// The staged words of each activation block: the first word of q8_block's seven that load_xq
// reads, and how many.
#if SWAR
const XS_FIRST: u32 = 2u;
const XS_WORDS: u32 = 5u;
#else
const XS_FIRST: u32 = 0u;
const XS_WORDS: u32 = 3u;
#endif
// Staged words per token and chunk.
const XS_TOKEN: u32 = {{NXB}}u * XS_WORDS;

#include "matmul_io"
#if GLU
alias T = f32;
#include "act"
#endif

var<workgroup> xs: array<vec4<u32>, BN * XS_TOKEN>;

// load_xq reads local token t's staged blocks (u32 arithmetic wraps: word XS_FIRST of block 0 is xs[0]).
fn xq_word(i: u32) -> vec4<u32> { return xs[i]; }
fn xq_block_word(t: u32, b: u32, c: u32, k: u32) -> u32 { return t * XS_TOKEN + k * XS_WORDS - XS_FIRST; }

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
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
  // Rows past the part recompute the last row (uniform control flow); never stored. With GLU,
  // rows RM… of the thread are the up rows, part.rows further on.
#for R in 0..{{RR}}
  let rb{{R}} = (min(row0 + ir * RM + {{R % RM}}u, part.rows - 1u) + {{R / RM}}u * part.rows) * part.rowBytes;
#for T in 0..{{TN}}
  var acc{{R}}_{{T}} = 0.0;
#endfor
#endfor

  let rowChunks = part.rowChunks;
  for (var k = 0u; k < rowChunks; k++) {
    let b = k / NCH;
    let c = k % NCH;
    // 1. Stage: BN tokens × NXB blocks × XS_WORDS words; tokens past the batch re-read the last one.
    for (var i = lid; i < BN * XS_TOKEN; i += WG) {
      let tl = i / XS_TOKEN;
      let v = i % XS_TOKEN;
      let xb = min(t0 + tl, nT - 1u) * part.xStride4;
      xs[i] = XQ[xb + XQ_WORDS_IN * (b * (QK / 32u) + xblock(c, v / XS_WORDS)) + XS_FIRST + v % XS_WORDS];
    }
    workgroupBarrier();
    // 2. Every token of the thread's tile against its rows' chunk.
#for T in 0..{{TN}}
    {
      let x = load_xq(it + {{T}}u * WT, b, c);
#for R in 0..{{RR}}
      acc{{R}}_{{T}} += dot_q8(rb{{R}} + b * QB, c, x);
#endfor
    }
#endfor
    workgroupBarrier();
  }

#for R in 0..{{RM}}
#for T in 0..{{TN}}
#if GLU
  store(row0 + ir * RM + {{R}}u, t0 + it + {{T}}u * WT, nT, acc{{R}}_{{T}}, acc{{R + RM}}_{{T}}, 0.0);
#else
  store(row0 + ir * RM + {{R}}u, t0 + it + {{T}}u * WT, nT, acc{{R}}_{{T}}, 0.0, 0.0);
#endif
#endfor
#endfor
}
