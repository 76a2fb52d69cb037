// IQ3_XXS (98 bytes): d:f16 qs[64] aux[8]:u32. Values come in groups of 4 from IQ3XXS_GRID: group k
// (values 4k..4k+3) of sub-block s (32 values, chunk c = s) is entry qs[8s + k]; aux[s] holds four
// 7-bit sign fields (bits 7l.., one per 8 values, the 8th sign by parity) and the scale
// d·(0.5 + aux[s] >> 28)·0.5. IQ3XXS_GRID holds 3-bit level indices, value j at bits 3j..3j + 2;
// gpu-decoders.ts appends it from src/quant/cpu/iq-grids.ts.
#include "dq"
#include "iq"
const QK: u32 = 256u;
const QB: u32 = 98u;
const NCH: u32 = 8u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * c + 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  let q = ld2w(bo + 2u + 8u * c);
  let aux = ldw(bo + 66u + 4u * c);
  var r: Dq;
  r.a = vec4<f32>(d * (0.5 + f32(aux >> 28u)) * 0.5);
#for L in 0..4
  let sg{{L}} = iq_ksigns((aux >> {{7 * L}}u) & 127u);
  r.v{{2 * L}} = iq3xxs_levels(IQ3XXS_GRID[byte_of(q[{{L / 2}}], {{L % 2 * 2}}u)]) * iq_signs4(sg{{L}});
  r.v{{2 * L + 1}} = iq3xxs_levels(IQ3XXS_GRID[byte_of(q[{{L / 2}}], {{L % 2 * 2 + 1}}u)]) * iq_signs4(sg{{L}} >> 4u);
#endfor
  return r;
}
