// IQ4_XS (136 bytes = 34 words, so blocks are word aligned): d:f16 scales_h:u16 scales_l[4]
// qs[128]. Sub-block s (32 elements) reads like an IQ4_NL block at qs[16s ..] — low nibbles are
// elements 0..15, high nibbles 16..31 — with scale d·(ls − 32), ls = (nibble s & 1 of
// scales_l[s >> 1]) | (bits 2s, 2s + 1 of scales_h) << 4. Chunk c = sub-blocks 2c and 2c + 1 (two
// scale groups), the 32 bytes qs[32c ..]; codes are the table's levels (exact in f32).
#include "dq"
#include "iq4nl"
const QK: u32 = 256u;
const QB: u32 = 136u;
const NCH: u32 = 4u;
fn chunk_x(c: u32, i: u32) -> u32 { return 64u * c + 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let w = bo >> 2u;
  let head = W[w];
  let d = half1(head & 0xffffu);
  let sh = (head >> 16u) >> (4u * c);
  let sl = byte_of(W[w + 1u], c);
  let ls0 = (sl & 15u) | ((sh & 3u) << 4u);
  let ls1 = (sl >> 4u) | (((sh >> 2u) & 3u) << 4u);
  var r: Dq;
  r.a = vec4<f32>(d * (f32(ls0) - 32.0), d * (f32(ls1) - 32.0), 0.0, 0.0);
  let q = w + 2u + 8u * c;
#for K in 0..8
  let q{{K}} = W[q + {{K}}u];
#endfor
  // Sub-block 2c: v0..3 low nibbles of words 0..3, v4..7 their high nibbles; 2c + 1 from words 4..7.
#for K in 0..4
  r.v{{K}} = iq4nl_levels(bytes_field(q{{K}}, 0u, 15u));
  r.v{{K + 4}} = iq4nl_levels(bytes_field(q{{K}}, 4u, 15u));
  r.v{{K + 8}} = iq4nl_levels(bytes_field(q{{K + 4}}, 0u, 15u));
  r.v{{K + 12}} = iq4nl_levels(bytes_field(q{{K + 4}}, 4u, 15u));
#endfor
  return r;
}
