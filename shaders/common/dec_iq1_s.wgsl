// IQ1_S (50 bytes): d:f16 qs[32] qh[8]:u16. In sub-block s (32 values, chunk c = s), values
// 8l..8l+7 are IQ1S_GRID entry qs[4s + l] | ((qh[s] >> 3l) & 7) << 8 (values −1, 0, 1) plus δ,
// δ = −1/8 when bit 15 of qh[s] is set and +1/8 otherwise, times d·(2·((qh[s] >> 12) & 7) + 1).
// Codes are 8·(grid + δ), integers, and the scale takes the 1/8. IQ1S_GRID holds 2-bit level
// indices, value j at bits 2j..2j + 1; gpu-decoders.ts appends it from src/quant/cpu/iq-grids.ts.
#include "dq"
#include "iq"
const QK: u32 = 256u;
const QB: u32 = 50u;
const NCH: u32 = 8u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * c + 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  let qs = ldw(bo + 2u + 4u * c);
  let qh = ld16(bo + 34u + 2u * c);
  let delta8 = select(1.0, -1.0, (qh & 0x8000u) != 0u);
  var r: Dq;
  r.a = vec4<f32>(d * f32(2u * ((qh >> 12u) & 7u) + 1u) * 0.125);
#for L in 0..4
  let code{{L}} = IQ1S_GRID[byte_of(qs, {{L}}u) | (((qh >> {{3 * L}}u) & 7u) << 8u)];
  r.v{{2 * L}} = iq1_codes(code{{L}}, delta8);
  r.v{{2 * L + 1}} = iq1_codes(code{{L}} >> 8u, delta8);
#endfor
  return r;
}
