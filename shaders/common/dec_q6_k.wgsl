// Q6_K (210 bytes): ql[128] qh[64] scales: int8[16] d:f16. Element e = 128h + 32g + 16s + l:
// q = (nibble g >> 1 of ql[64h + 32(g & 1) + 16s + l]) | ((qh[32h + 16s + l] >> 2g) & 3) << 4,
// value = d·scales[e / 16]·(q − 32). The 32 bytes ql[64h + 32p ..] (p = 0, 1) and bits 2p, 2p + 4
// of qh[32h ..] hold g = p (low nibbles) and g = p + 2 (high nibbles): two runs of 32 elements, at
// 128h + 32p and 128h + 32p + 64, word k of both bytes giving elements 4k … of each.
// A chunk is KW = CW/2 words of those 32 bytes, both nibbles, each byte loaded once per chunk:
// CW = 16 (all of them, scale groups v0–3, v4–7 of g = p and v8–11, v12–15 of g = p + 2) for the
// mat-vec and the embedding; CW = 8 (half, one scale group per nibble: gpu-decoders.ts
// gemmChunkVec4s, gemmGroups) for the tiled GEMM. Vec4 i is nibble i / KW of word i % KW.
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 210u;
const KW: u32 = {{CW / 2}}u;
const NCH: u32 = {{64 / CW}}u;
fn chunk_x(c: u32, i: u32) -> u32 {
  let w = c * KW;
  let run = w >> 3u;
  return 128u * (run >> 1u) + 32u * (run & 1u) + 64u * (i / KW) + 4u * ((w & 7u) + i % KW);
}
fn i8f(b: u32) -> f32 { return f32((bitcast<i32>(b) << 24u) >> 24u); }
fn decode_q(bo: u32, c: u32) -> Dq {
  let w = c * KW;
  let h = w >> 4u;
  let p = (w >> 3u) & 1u;
  let o = w & 7u;
  let d = ldf16(bo + 208u);
  var r: Dq;
  // Scale groups of 16 weights: nibble n (g = p + 2n), sub-block s of the run → scales[8h + 2p + 4n + s].
#for X in 0..{{CW / 16}}
  let s01 = ld16(bo + 192u + 8u * h + 2u * p);
  let s45 = ld16(bo + 196u + 8u * h + 2u * p);
  r.a = d * vec4<f32>(i8f(s01 & 255u), i8f(s01 >> 8u), i8f(s45 & 255u), i8f(s45 >> 8u));
#endfor
#for X in 0..{{CW % 16 / 8}}
  let sb = bo + 192u + 8u * h + 2u * p + (o >> 2u);
  r.a = d * vec4<f32>(i8f(ld8(sb)), i8f(ld8(sb + 4u)), 0.0, 0.0);
#endfor
  r.m = -32.0 * r.a;
  let li = (bo + 64u * h + 32u * p + 4u * o) >> 2u;
  let hi = (bo + 128u + 32u * h + 4u * o) >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..{{CW / 2 + 1}}
  let l{{K}} = W[li + {{K}}u];
  let u{{K}} = W[hi + {{K}}u];
#endfor
#for K in 0..{{CW / 2}}
  let ql{{K}} = funnel(l{{K}}, l{{K + 1}}, sh);
  let qh{{K}} = funnel(u{{K}}, u{{K + 1}}, sh);
  r.v{{K}} = vec4<f32>(bytes_field(ql{{K}}, 0u, 15u) | (bytes_field(qh{{K}}, 2u * p, 3u) << vec4<u32>(4u)));
  r.v{{K + CW / 2}} = vec4<f32>(bytes_field(ql{{K}}, 4u, 15u) | (bytes_field(qh{{K}}, 2u * p + 4u, 3u) << vec4<u32>(4u)));
#endfor
  return r;
}
