// TQ2_0 (66 bytes): qs[64] d:f16. Element e = 128j + 32l + m has code (qs[32j + m] >> 2l) & 3,
// weight (code − 1)·d. Chunk j = the 8 words qs[32j ..], all four 2-bit planes: word k gives 4
// consecutive elements 32l + 4k .. of each plane l, so no byte shuffling and every byte loaded once.
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 66u;
const NCH: u32 = 2u;
fn chunk_x(c: u32, i: u32) -> u32 { return 128u * c + 32u * (i >> 3u) + 4u * (i & 7u); }
fn decode_t(bo: u32, c: u32) -> Tq {
  var r: Tq;
  r.d = ldf16(bo + 64u);
  let wi = (bo + 32u * c) >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..9
  let a{{K}} = W[wi + {{K}}u];
#endfor
  var any3 = 0u;
#for K in 0..8
  let q{{K}} = funnel(a{{K}}, a{{K + 1}}, sh);
  any3 |= q{{K}} & (q{{K}} >> 1u);
#for L in 0..4
  r.c{{L * 8 + K}} = bytes_field(q{{K}}, {{L * 2}}u, 3u);
#endfor
#endfor
  r.has3 = (any3 & 0x55555555u) != 0u;
  return r;
}
