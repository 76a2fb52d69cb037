// IQ4_XS (136 bytes = 34 words, so blocks are word aligned): d:f16 scales_h:u16 scales_l[4]
// qs[128]. Sub-block s (32 elements) reads like an IQ4_NL block at qs[16s ..] — low nibbles are
// elements 0..15, high nibbles 16..31 — with scale d·(ls − 32), ls = (nibble s & 1 of
// scales_l[s >> 1]) | (bits 2s, 2s + 1 of scales_h) << 4; codes are the table's levels (exact in
// f32). A chunk is CW/8 sub-blocks, one scale group each: CW = 16 (sub-blocks 2c, 2c + 1, the 32
// bytes qs[32c ..]) for the mat-vec and the embedding, CW = 8 (sub-block c) for the tiled GEMM
// (gpu-decoders.ts gemmChunkVec4s, gemmGroups).
#include "dq"
#include "iq4nl"
const QK: u32 = 256u;
const QB: u32 = 136u;
const NCH: u32 = {{64 / CW}}u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * (c * {{CW}}u + i); }
fn decode_q(bo: u32, c: u32) -> Dq {
  let w = bo >> 2u;
  let head = W[w];
  let d = half1(head & 0xffffu);
  let first = c * {{CW / 8}}u;
  var r: Dq;
#for G in 0..{{CW / 8}}
  let s{{G}} = first + {{G}}u;
  let ls{{G}} = ((byte_of(W[w + 1u], s{{G}} >> 1u) >> (4u * (s{{G}} & 1u))) & 15u) | (((head >> (16u + 2u * s{{G}})) & 3u) << 4u);
  r.a[{{G}}] = d * (f32(ls{{G}}) - 32.0);
  // Sub-block s: v0..3 low nibbles of its 4 words, v4..7 their high nibbles.
#for K in 0..4
  let q{{G}}_{{K}} = W[w + 2u + 4u * s{{G}} + {{K}}u];
  r.v{{G * 8 + K}} = iq4nl_levels(bytes_field(q{{G}}_{{K}}, 0u, 15u));
  r.v{{G * 8 + K + 4}} = iq4nl_levels(bytes_field(q{{G}}_{{K}}, 4u, 15u));
#endfor
#endfor
  return r;
}
