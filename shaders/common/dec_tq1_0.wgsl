// TQ1_0 (54 bytes): qs[48] qh[4] d:f16, base-3 packing: a byte holds 5 (qs) or 4 (qh) trits as a
// fixed-point fraction, byte = ceil(Σ t_n·3^(4−n) · 256 / 243). Trit n of byte b is the integer
// part of 3·frac(b·3^n / 256): ((b·3^n mod 256)·3) >> 8 — shifting the fraction's digits out, so
// these integer multiplies only unpack codes; no weight multiplies an activation.
// Element layout (ggml): qs[0..32) trit n → element 32n + m; qs[32..48) trit n → 160 + 16n + m;
// qh[j] trit n → 240 + 4n + j.
// A chunk is KW = CW/6 qs words from word c·KW, all five trit planes (vec4 i < 5·KW: plane i / KW
// of word i % KW), then KW more vec4s: the qh word's trit planes w − 8 … for the chunks of words
// w ≥ 8 (qs[32..48)), padding before (code 1 = weight 0). Every byte is unpacked once. CW = 24 (4
// words, the qh word's four planes in the last chunk) for the mat-vec and the embedding; CW = 12
// (2 words, two qh planes in each of the last two chunks) for the tiled GEMM, whose unrolled work
// per chunk grows with CW (gpu-decoders.ts gemmChunkVec4s).
#include "dq"
const QK: u32 = 256u;
const QB: u32 = 54u;
const KW: u32 = {{CW / 6}}u;
const NCH: u32 = {{72 / CW}}u;
fn chunk_x(c: u32, i: u32) -> u32 {
  let w = c * KW;
  if (i >= 5u * KW) { return select(0u, 240u + 4u * (w - 8u + i - 5u * KW), w >= 8u); }
  let n = i / KW;
  let k = w + i % KW;
  return select(32u * n + 4u * k, 160u + 16u * n + 4u * (k - 8u), k >= 8u);
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
  // KW qs words at bo + 4w (unaligned: KW + 1 loads and funnel shifts), and the qh word at bo + 48.
  let w = c * KW;
  let wi = (bo + 4u * w) >> 2u;
  let sh = (bo & 3u) << 3u;
#for K in 0..{{CW / 6 + 1}}
  let a{{K}} = W[wi + {{K}}u];
#endfor
#for K in 0..{{CW / 6}}
  let q{{K}} = funnel(a{{K}}, a{{K + 1}}, sh);
#endfor
  let qh = ldw(bo + 48u);
  let pad = vec4<u32>(1u);
  let last = w >= 8u;
  let plane = select(0u, w - 8u, last);
#for N in 0..5
#for K in 0..{{CW / 6}}
  r.c{{N * CW / 6 + K}} = trits(q{{K}}, POW3[{{N}}]);
#endfor
#endfor
#for M in 0..{{CW / 6}}
  r.c{{5 * CW / 6 + M}} = select(pad, trits(qh, POW3[plane + {{M}}u]), last);
#endfor
  return r;
}
