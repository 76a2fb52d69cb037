// Tiled GEMM with int8 activations (prefill; W8A8, W4A8, W1.58A8) over one row-part of a
// quantized weight:
//   Y[tok·yStride + outBase + r] = scale · Σ_col W[r, col] · x̂[tok, col]
// with x̂ the f32 input X (token t at inBase4 + t·xStride4 vec4s) quantized to int8 per 32-element
// block (x̂ = d·q, as quantize_q8.wgsl does: common/q8_quant.wgsl). The tile is the f32 GEMM's
// (matmul_tiled.wgsl): BM = WR·RM rows × BN = WT·TN tokens per workgroup, thread (ir, it) owning
// RM rows × TN tokens (tokens t0 + it + WT·t) of i32-exact block sums scaled into f32
// accumulators. With GLU a thread also owns each row's up row (part.rows further on), so the
// store has gate and up together, as in the int8 mat-vec.
//
// The reduction walks the row one int8 decoder chunk (NXB activation blocks) at a time:
//   1. the workgroup stages the chunk's activation blocks for all BN tokens in workgroup memory,
//      quantizing them as it reads them (a thread per block: 8 vec4s of X read once per workgroup,
//      only the words the products read kept: codes and scales, or with SWAR scales and lanes).
//      So the int8 GEMM needs no quantize dispatch and no int8 copy of its input: each workgroup
//      along the rows quantizes the same blocks again, which costs one block's quantize per BM
//      rows' products with it;
//   2. each thread unpacks its RR rows' chunk once through the type's dot8 decoder (unpack_q8:
//      the weight loads, bit work and scales), then takes, for each of its TN tokens, the products
//      with those unpacked words (dot_unpacked; exact integer sums, dot4I8Packed or SWAR as the
//      int8 mat-vec chooses).
// Ragged tiles as in matmul_tiled.wgsl: rows past the part recompute the last row, tokens past
// the batch re-read the last token, neither is stored.
#include "bytes"
#include "{{DECODER8}}"
#include "block_at"
#include "q8_dot"
#include "q8_quant"

const RM: u32 = {{RM}}u;
const TN: u32 = {{TN}}u;
const WT: u32 = {{WT}}u;
const WG: u32 = {{WG}}u;
const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
// The staged words of each activation block: the first of the seven of q8_quant's layout that
// load_xq reads, and how many.
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
    let col = b * QK;
    // 1. Stage: BN tokens × NXB blocks, quantized; tokens past the batch re-read the last one.
    for (var i = lid; i < BN * {{NXB}}u; i += WG) {
      let xb = part.inBase4 + min(t0 + i / {{NXB}}u, nT - 1u) * part.xStride4 + ((col + 32u * xblock(c, i % {{NXB}}u)) >> 2u);
      let q = q8_words(X[xb], X[xb + 1u], X[xb + 2u], X[xb + 3u], X[xb + 4u], X[xb + 5u], X[xb + 6u], X[xb + 7u], 0.0);
      let o = i * XS_WORDS;
#if SWAR
      xs[o] = q.ds;
      xs[o + 1u] = q.e0;
      xs[o + 2u] = q.e1;
      xs[o + 3u] = q.o0;
      xs[o + 4u] = q.o1;
#else
      xs[o] = q.w0;
      xs[o + 1u] = q.w1;
      xs[o + 2u] = q.ds;
#endif
    }
    workgroupBarrier();
    // 2. The thread's rows' chunk unpacked once, then every token of its tile against them.
#for R in 0..{{RR}}
    let w{{R}} = unpack_q8(block_at(rb{{R}}, b), c);
#endfor
#for T in 0..{{TN}}
    {
      let x = load_xq(it + {{T}}u * WT, b, c);
#for R in 0..{{RR}}
      acc{{R}}_{{T}} += dot_unpacked(w{{R}}, x);
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
