// IQ3_S (110 bytes): d:f16 qs[64] qh[8] signs[32] scales[4]. Values come in groups of 4 from the
// 512-entry grid IQ3S_GRID: group k (values 4k..4k+3) of sub-block s (32 values) is entry
// qs[8s + k] | (bit k of qh[s]) << 8; value n of the block is negative when bit n of the
// little-endian signs[] is set; sub-block s is scaled by d·(1 + 2·(nibble s & 1 of scales[s >> 1])).
// Chunk c = sub-block c. IQ3S_GRID holds 3-bit level indices i (level 2i + 1), value j at bits
// 3j..3j + 2; gpu-decoders.ts appends it from src/quant/cpu/iq-grids.ts.
#include "dq"
#include "iq"
const QK: u32 = 256u;
const QB: u32 = 110u;
const NCH: u32 = 8u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * c + 4u * i; }
fn iq3s_entry(idx: u32) -> vec4<f32> {
  let lvl = (vec4<u32>(IQ3S_GRID[idx]) >> vec4<u32>(0u, 3u, 6u, 9u)) & vec4<u32>(7u);
  return vec4<f32>(2u * lvl + vec4<u32>(1u));
}
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  let s = (ld8(bo + 106u + (c >> 1u)) >> (4u * (c & 1u))) & 15u;
  // qs[8c .. 8c + 8]: two words at an even offset (3 loads when it straddles words).
  let qo = bo + 2u + 8u * c;
  let wi = qo >> 2u;
  let sh = (qo & 3u) << 3u;
  let w0 = W[wi];
  let w1 = W[wi + 1u];
  let w2 = W[wi + 2u];
  let q = array<u32, 2>(funnel(w0, w1, sh), funnel(w1, w2, sh));
  let qh = ld8(bo + 66u + c);
  let sg = ldw(bo + 74u + 4u * c);
  var r: Dq;
  r.a = vec4<f32>(d * f32(1u + 2u * s));
#for K in 0..8
  r.v{{K}} = iq3s_entry(byte_of(q[{{K / 4}}], {{K % 4}}u) | (((qh >> {{K}}u) & 1u) << 8u)) * iq_signs4(sg >> {{4 * K}}u);
#endfor
  return r;
}
