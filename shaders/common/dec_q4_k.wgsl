// Q4_K (144 bytes = 9 × 16, so blocks are 16-byte aligned): d:f16 dmin:f16 scales[12] qs[128].
// The 32 bytes qs[32s ..] hold sub-blocks 2s (low nibbles) and 2s + 1 (high nibbles): word k's
// nibbles are elements 64s + 4k … and 64s + 32 + 4k …; value = d·sc·q − dmin·m with 6-bit (sc, m)
// of sub-block j packed as ggml's get_scale_min_k4: j < 4: s[j] & 63, s[j+4] & 63; else
// (s[j+4] & 15) | (s[j−4] >> 6) << 4, (s[j+4] >> 4) | (s[j] >> 6) << 4. One 16-byte load holds d,
// dmin and all 12 scale bytes.
// A chunk is KW = CW/2 words of one such 32-byte run, both nibbles (group 0 the low, group 1 the
// high): CW = 16 (the whole run, 64 elements) for the mat-vec and the embedding, CW = 8 (one
// 16-byte load) for the tiled GEMM (gpu-decoders.ts gemmChunkVec4s). Vec4 i is nibble i / KW of
// word i % KW.
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 144u;
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
#for V in 0..{{CW / 8}}
  let v{{V}} = W4[b4 + 1u + (w >> 2u) + {{V}}u];
  let q{{V * 4}} = v{{V}}.x;
  let q{{V * 4 + 1}} = v{{V}}.y;
  let q{{V * 4 + 2}} = v{{V}}.z;
  let q{{V * 4 + 3}} = v{{V}}.w;
#endfor
  var r: Dq;
  r.a = vec4<f32>(a0, a1, 0.0, 0.0);
  r.m = vec4<f32>(m0, m1, 0.0, 0.0);
#for K in 0..{{CW / 2}}
  r.v{{K}} = vec4<f32>(bytes_field(q{{K}}, 0u, 15u));
  r.v{{K + CW / 2}} = vec4<f32>(bytes_field(q{{K}}, 4u, 15u));
#endfor
  return r;
}
