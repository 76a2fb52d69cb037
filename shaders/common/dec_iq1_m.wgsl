// IQ1_M (56 bytes): qs[32] qh[16] scales[8] (four u16 words; the f16 d is their four top nibbles,
// word k's at bits 4k..4k + 3). In sub-block s (32 values, chunk c = s), values 8l..8l+7 are
// IQ1S_GRID entry qs[4s + l] | (h & 7) << 8 plus δ (−1/8 when h & 8, else +1/8), h = nibble l of
// the u16 at qh[2s]; values 0..15 are scaled by d·(2·b + 1) with b bits 6(s & 1).. of scales word
// s >> 1, values 16..31 by bits 6(s & 1) + 3.. (two groups). Codes are 8·(grid + δ), the scales
// take the 1/8. gpu-decoders.ts appends IQ1S_GRID from src/quant/cpu/iq-grids.ts.
#include "dq"
#include "iq"
const QK: u32 = 256u;
const QB: u32 = 56u;
const NCH: u32 = 8u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * c + 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let s01 = ldw(bo + 48u);
  let s23 = ldw(bo + 52u);
  let dbits = ((s01 >> 12u) & 0xfu) | ((s01 >> 24u) & 0xf0u) | ((s23 >> 4u) & 0xf00u) | ((s23 >> 16u) & 0xf000u);
  let d = half1(dbits);
  let sc = (select(s23, s01, c < 4u) >> (16u * ((c >> 1u) & 1u))) >> (6u * (c & 1u));
  let qs = ldw(bo + 4u * c);
  let qh = ld16(bo + 32u + 2u * c);
  var r: Dq;
  r.a = vec4<f32>(d * f32(2u * (sc & 7u) + 1u) * 0.125, d * f32(2u * ((sc >> 3u) & 7u) + 1u) * 0.125, 0.0, 0.0);
#for L in 0..4
  let h{{L}} = (qh >> {{4 * L}}u) & 15u;
  let code{{L}} = IQ1S_GRID[byte_of(qs, {{L}}u) | ((h{{L}} & 7u) << 8u)];
  let delta{{L}} = select(1.0, -1.0, (h{{L}} & 8u) != 0u);
  r.v{{2 * L}} = iq1_codes(code{{L}}, delta{{L}});
  r.v{{2 * L + 1}} = iq1_codes(code{{L}} >> 8u, delta{{L}});
#endfor
  return r;
}
