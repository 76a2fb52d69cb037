// IQ2_XS (74 bytes): d:f16 qs[32]:u16 scales[8]. In sub-block s (32 values, chunk c = s),
// qs[4s + l] & 511 is the IQ2XS_GRID entry of values 8l..8l+7 and qs >> 9 their 7-bit sign field
// (the 8th sign by parity); values 0..15 are scaled by d·(0.5 + low nibble of scales[s])·0.25,
// 16..31 by the high nibble (two scale groups). IQ2XS_GRID holds 2-bit level indices, value j at
// bits 2j..2j + 1; gpu-decoders.ts appends it from src/quant/cpu/iq-grids.ts.
#include "dq"
#include "iq"
const QK: u32 = 256u;
const QB: u32 = 74u;
const NCH: u32 = 8u;
fn chunk_x(c: u32, i: u32) -> u32 { return 32u * c + 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  let d = ldf16(bo);
  let q = ld2w(bo + 2u + 8u * c);
  let sc = ld8(bo + 66u + c);
  var r: Dq;
  r.a = vec4<f32>(d * (0.5 + f32(sc & 15u)) * 0.25, d * (0.5 + f32(sc >> 4u)) * 0.25, 0.0, 0.0);
#for L in 0..4
  let e{{L}} = (q[{{L / 2}}] >> {{L % 2 * 16}}u) & 0xffffu;
  let code{{L}} = IQ2XS_GRID[e{{L}} & 511u];
  let sg{{L}} = iq_ksigns(e{{L}} >> 9u);
  r.v{{2 * L}} = iq2_levels(code{{L}}) * iq_signs4(sg{{L}});
  r.v{{2 * L + 1}} = iq2_levels(code{{L}} >> 8u) * iq_signs4(sg{{L}} >> 4u);
#endfor
  return r;
}
