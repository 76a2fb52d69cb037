// Q5_K (176 bytes = 11 × 16, 16-byte aligned): d dmin scales[12] qh[32] qs[128]. As Q4_K, plus a
// 5th bit: sub-block j takes bit j of qh[l] (l = its element's index in the sub-block).
// A chunk is KW = CW/2 words of one 32-byte run of qs, both nibbles, as in dec_q4_k.wgsl: CW = 16
// for the mat-vec and the embedding, CW = 8 for the tiled GEMM (gpu-decoders.ts gemmChunkVec4s).
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 176u;
const KW: u32 = {{CW / 2}}u;
const NCH: u32 = {{64 / CW}}u;
fn chunk_x(c: u32, i: u32) -> u32 {
  let w = c * KW;
  return 64u * (w >> 3u) + 32u * (i / KW) + 4u * ((w & 7u) + i % KW);
}
#include "kscales"
fn decode_q(bo: u32, c: u32) -> Dq {
  let b4 = bo >> 4u;
  let h = W4[b4];
  let dd = half2(h.x);
  let w = c * KW;
  let s = w >> 3u;
  let sm0 = scale_min_k4(h, 2u * s);
  let sm1 = scale_min_k4(h, 2u * s + 1u);
  let a0 = dd.x * sm0.x;
  let m0 = -dd.y * sm0.y;
  let a1 = dd.x * sm1.x;
  let m1 = -dd.y * sm1.y;
  // qh words w & 7 …: the same elements' 5th bits (qh[l] serves every run).
#for V in 0..{{CW / 8}}
  let hv{{V}} = W4[b4 + 1u + ((w & 7u) >> 2u) + {{V}}u];
  let qh{{V * 4}} = hv{{V}}.x;
  let qh{{V * 4 + 1}} = hv{{V}}.y;
  let qh{{V * 4 + 2}} = hv{{V}}.z;
  let qh{{V * 4 + 3}} = hv{{V}}.w;
  let v{{V}} = W4[b4 + 3u + (w >> 2u) + {{V}}u];
  let q{{V * 4}} = v{{V}}.x;
  let q{{V * 4 + 1}} = v{{V}}.y;
  let q{{V * 4 + 2}} = v{{V}}.z;
  let q{{V * 4 + 3}} = v{{V}}.w;
#endfor
  var r: Dq;
  r.a = vec4<f32>(a0, a1, 0.0, 0.0);
  r.m = vec4<f32>(m0, m1, 0.0, 0.0);
#for K in 0..{{CW / 2}}
  r.v{{K}} = vec4<f32>(bytes_field(q{{K}}, 0u, 15u) | (bytes_field(qh{{K}}, 2u * s, 1u) << vec4<u32>(4u)));
  r.v{{K + CW / 2}} = vec4<f32>(bytes_field(q{{K}}, 4u, 15u) | (bytes_field(qh{{K}}, 2u * s + 1u, 1u) << vec4<u32>(4u)));
#endfor
  return r;
}
