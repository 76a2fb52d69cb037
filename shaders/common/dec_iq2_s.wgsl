// IQ2_S (82 bytes): d:f16 qs[32] signs[32] qh[8] scales[8]. In sub-block s (32 values, chunk
// c = s), values 8l..8l+7 are IQ2S_GRID entry qs[4s + l] | ((qh[s] >> 2l) & 3) << 8 with all 8 signs
// in signs[4s + l]; scales as IQ2_XS (two groups). IQ2S_GRID holds 2-bit level indices, value j
// at bits 2j..2j + 1; gpu-decoders.ts appends it from src/quant/cpu/iq-grids.ts.
#include "dq"
#include "iq"
const QK: u32 = 256u;
const QB: u32 = 82u;
const NCH: u32 = 8u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * c + 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  let qs = ldw(bo + 2u + 4u * c);
  let signs = ldw(bo + 34u + 4u * c);
  let qh = ld8(bo + 66u + c);
  let sc = ld8(bo + 74u + c);
  var r: Dq;
  r.a = vec4<f32>(d * (0.5 + f32(sc & 15u)) * 0.25, d * (0.5 + f32(sc >> 4u)) * 0.25, 0.0, 0.0);
#for L in 0..4
  let code{{L}} = IQ2S_GRID[byte_of(qs, {{L}}u) | (((qh >> {{2 * L}}u) & 3u) << 8u)];
  let sg{{L}} = byte_of(signs, {{L}}u);
  r.v{{2 * L}} = iq2_levels(code{{L}}) * iq_signs4(sg{{L}});
  r.v{{2 * L + 1}} = iq2_levels(code{{L}} >> 8u) * iq_signs4(sg{{L}} >> 4u);
#endfor
  return r;
}
