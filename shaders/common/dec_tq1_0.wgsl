// TQ1_0 (54 bytes): qs[48] qh[4] d:f16, base-3 packing: a byte holds 5 (qs) or 4 (qh) trits as a
// fixed-point fraction, byte = ceil(Σ t_n·3^(4−n) · 256 / 243). Trit n of byte b is the integer
// part of 3·frac(b·3^n / 256): ((b·3^n mod 256)·3) >> 8 — shifting the fraction's digits out, so
// these integer multiplies only unpack codes; no weight multiplies an activation.
// Element layout (ggml): qs[0..32) trit n → element 32n + m; qs[32..48) trit n → 160 + 16n + m;
// qh[j] trit n → 240 + 4n + j.
// Chunks (CW = 24 vec4s, every byte unpacked once): c = 0, 1: the 4 words qs[16c ..], vec4 i < 20
// = trit plane i / 4 of word i % 4 → elements 32(i/4) + 16c + 4(i%4); vec4s 20..23 are padding
// (code 1 = weight 0). c = 2: the 4 words qs[32 ..] → elements 160 + 16(i/4) + 4(i%4), and
// vec4 20 + n = trit n of the qh word → elements 240 + 4n.
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 54u;
const NCH: u32 = 3u;
fn chunk_x(c: u32, i: u32) -> u32 {
  if (i >= 20u) { return select(0u, 240u + 4u * (i - 20u), c == 2u); }
  return select(32u * (i >> 2u) + 16u * c, 160u + 16u * (i >> 2u), c == 2u) + 4u * (i & 3u);
}
const POW3 = array<u32, 5>(1u, 3u, 9u, 27u, 81u);
fn trits(w: u32, p: u32) -> vec4<u32> {
  let q = (((vec4<u32>(w) >> SH8) & vec4<u32>(255u)) * p) & vec4<u32>(255u);
  return (q * 3u) >> vec4<u32>(8u);
}
fn decode_t(bo: u32, c: u32) -> Tq {
  var r: Tq;
  r.d = ldf16(bo + 52u);
  r.has3 = false;
  // 4 words of qs at bo + 16c (c = 0, 1) or bo + 32 (c = 2), then (c = 2) the qh word at bo + 48.
  let wi = (bo + 16u * c) >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..5
  let a{{K}} = W[wi + {{K}}u];
#endfor
#for K in 0..4
  let q{{K}} = funnel(a{{K}}, a{{K + 1}}, sh);
#endfor
  let qh = ldw(bo + 48u);
  let pad = vec4<u32>(1u);
  let last = c == 2u;
#for N in 0..5
#for K in 0..4
  r.c{{N * 4 + K}} = trits(q{{K}}, POW3[{{N}}]);
#endfor
#endfor
#for N in 0..4
  r.c{{20 + N}} = select(pad, trits(qh, POW3[{{N}}]), last);
#endfor
  return r;
}
