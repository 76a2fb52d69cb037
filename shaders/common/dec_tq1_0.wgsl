// TQ1_0 (54 bytes): qs[48] qh[4] d:f16, base-3 packing: a byte holds 5 (qs) or 4 (qh) trits as a
// fixed-point fraction, byte = ceil(Σ t_k·3^(4−k) · 256 / 243). Trit n of byte b is the integer
// part of 3·frac(b·3^n / 256): ((b·3^n mod 256)·3) >> 8 — a shift of the fraction's digits, so
// the integer multiplies here only unpack codes; no weight multiplies an activation.
// Element layout (ggml): qs[0..32) trit n → element 32n + m; qs[32..48) trit n → 160 + 16n + m;
// qh[j] trit n → 240 + 4n + j. Every 16-element chunk c (0..15) is then 4 words × one power:
//   c < 10: words at 16·(c & 1), power 3^(c/2); 10 ≤ c < 15: words at 32, power 3^(c−10);
//   c = 15: the qh word four times, power 3^i for word i.
const QK: u32 = 256u;
const QB: u32 = 54u;
const NCH: u32 = 16u;
const POW3 = array<u32, 5>(1u, 3u, 9u, 27u, 81u);
fn trits(w: u32, p: u32) -> vec4<u32> {
  let q = (((vec4<u32>(w) >> SH8) & vec4<u32>(255u)) * p) & vec4<u32>(255u);
  return (q * 3u) >> vec4<u32>(8u);
}
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let d = ldf16(bo + 52u);
  var codes: array<vec4<u32>, 4>;
  if (c < 10u) {
    let p = POW3[c >> 1u];
    for (var i = 0u; i < 4u; i++) { codes[i] = trits(ldw(bo + 16u * (c & 1u) + 4u * i), p); }
  } else if (c < 15u) {
    let p = POW3[c - 10u];
    for (var i = 0u; i < 4u; i++) { codes[i] = trits(ldw(bo + 32u + 4u * i), p); }
  } else {
    let w = ldw(bo + 48u);
    for (var i = 0u; i < 4u; i++) { codes[i] = trits(w, POW3[i]); }
  }
  tacc16(codes, col + 16u * c, d, false);
}
