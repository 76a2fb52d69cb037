// IQ2_XXS (66 bytes): d:f16 then 8 bytes per sub-block s (32 values, chunk c = s): bytes 0..3 are
// the IQ2XXS_GRID entries of values 8l..8l+7, the next u32 holds four 7-bit sign fields (bits
// 7l.., the 8th sign by parity) and the scale d·(0.5 + top nibble)·0.25. IQ2XXS_GRID holds 2-bit
// level indices, value j at bits 2j..2j + 1; gpu-decoders.ts appends it from src/quant/cpu/iq-grids.ts.
#include "dq"
#include "iq"
const QK: u32 = 256u;
const QB: u32 = 66u;
const NCH: u32 = 8u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * c + 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  let q = ld2w(bo + 2u + 8u * c);
  let g = q.x;
  let aux = q.y;
  var r: Dq;
  r.a = vec4<f32>(d * (0.5 + f32(aux >> 28u)) * 0.25);
#for L in 0..4
  let code{{L}} = IQ2XXS_GRID[byte_of(g, {{L}}u)];
  let sg{{L}} = iq_ksigns((aux >> {{7 * L}}u) & 127u);
  r.v{{2 * L}} = iq2_levels(code{{L}}) * iq_signs4(sg{{L}});
  r.v{{2 * L + 1}} = iq2_levels(code{{L}} >> 8u) * iq_signs4(sg{{L}} >> 4u);
#endfor
  return r;
}
