// Block decoders for every GPU-runnable GGUF weight type, read in place from the raw GGUF bytes.
//
// Layout choice: blocks stay as the file stores them (Q4_0 18 bytes, Q6_K 210, …, not 4-byte
// aligned). The includer provides `fn w_word(i: u32) -> u32` returning word i of the weight
// buffer; bytes are picked out of words here. Repacking at load would save a few shifts per byte
// but would cost a second layout in every path (loader, kernels, tests); decode mat-vec is bound
// by bytes read, which in-place reading does not increase.
//
// A "unit" is 32 consecutive weights of a block (units per block: 1 for the 32-element types,
// 8 for the 256-element K-quants and TQ types, 4 for I2_S's 128-element groups).
//   decode_unit(bb, u)  fills wv[0..31] with the weights (values types) — one define QT_<TYPE>.
//   code_unit(bb, u)    fills tq[0..31] with ternary codes 0,1,2 (= −1, 0, +1) and returns the
//                       unit's scale; ternary dot products then only add and subtract.

var<private> wv: array<f32, 32>;
var<private> tq: array<u32, 32>;

fn qb_u8(b: u32) -> u32 { return (w_word(b >> 2u) >> ((b & 3u) << 3u)) & 0xffu; }
fn qb_u16(b: u32) -> u32 {
  // b is even in every layout below, so the value never straddles two words.
  return (w_word(b >> 2u) >> ((b & 2u) << 3u)) & 0xffffu;
}
fn qb_u32(b: u32) -> u32 {
  let s = (b & 3u) << 3u;
  let lo = w_word(b >> 2u);
  if (s == 0u) { return lo; }
  return (lo >> s) | (w_word((b >> 2u) + 1u) << (32u - s));
}
fn qb_f16(b: u32) -> f32 { return unpack2x16float(qb_u16(b)).x; }
fn qb_i8(v: u32) -> f32 { return f32(i32(v << 24u) >> 24u); }

#if QT_Q8_0
const QT_VALUES = 32u; const QT_BYTES = 34u; const QT_UNITS = 1u;
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb);
  for (var j = 0u; j < 32u; j += 4u) {
    let q = qb_u32(bb + 2u + j);
    wv[j] = d * qb_i8(q & 0xffu); wv[j + 1u] = d * qb_i8((q >> 8u) & 0xffu);
    wv[j + 2u] = d * qb_i8((q >> 16u) & 0xffu); wv[j + 3u] = d * qb_i8(q >> 24u);
  }
}
#endif

#if QT_Q4_0
const QT_VALUES = 32u; const QT_BYTES = 18u; const QT_UNITS = 1u;
// d:f16, qs[16]: weight j = low nibble of qs[j], weight j+16 = high nibble; value (q − 8)·d.
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb);
  for (var j = 0u; j < 16u; j += 4u) {
    let q = qb_u32(bb + 2u + j);
    for (var k = 0u; k < 4u; k++) {
      let b = (q >> (8u * k)) & 0xffu;
      wv[j + k] = d * (f32(b & 15u) - 8.0);
      wv[j + k + 16u] = d * (f32(b >> 4u) - 8.0);
    }
  }
}
#endif

#if QT_Q4_1
const QT_VALUES = 32u; const QT_BYTES = 20u; const QT_UNITS = 1u;
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb);
  let m = qb_f16(bb + 2u);
  for (var j = 0u; j < 16u; j += 4u) {
    let q = qb_u32(bb + 4u + j);
    for (var k = 0u; k < 4u; k++) {
      let b = (q >> (8u * k)) & 0xffu;
      wv[j + k] = d * f32(b & 15u) + m;
      wv[j + k + 16u] = d * f32(b >> 4u) + m;
    }
  }
}
#endif

#if QT_Q5_0
const QT_VALUES = 32u; const QT_BYTES = 22u; const QT_UNITS = 1u;
// d, qh:u32 (5th bits), qs[16]; value ((nibble | bit<<4) − 16)·d.
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb);
  let qh = qb_u32(bb + 2u);
  for (var j = 0u; j < 16u; j++) {
    let b = qb_u8(bb + 6u + j);
    let h0 = ((qh >> j) << 4u) & 16u;
    let h1 = (qh >> (j + 12u)) & 16u;
    wv[j] = d * (f32((b & 15u) | h0) - 16.0);
    wv[j + 16u] = d * (f32((b >> 4u) | h1) - 16.0);
  }
}
#endif

#if QT_Q5_1
const QT_VALUES = 32u; const QT_BYTES = 24u; const QT_UNITS = 1u;
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb);
  let m = qb_f16(bb + 2u);
  let qh = qb_u32(bb + 4u);
  for (var j = 0u; j < 16u; j++) {
    let b = qb_u8(bb + 8u + j);
    let h0 = ((qh >> j) << 4u) & 16u;
    let h1 = (qh >> (j + 12u)) & 16u;
    wv[j] = d * f32((b & 15u) | h0) + m;
    wv[j + 16u] = d * f32((b >> 4u) | h1) + m;
  }
}
#endif

#if QT_KSCALES
// Q4_K/Q5_K: 8 (scale, min) pairs of 6 bits packed in 12 bytes at offset 4.
fn k_scale_min(bb: u32, j: u32) -> vec2<f32> {
  let s = bb + 4u;
  if (j < 4u) {
    return vec2<f32>(f32(qb_u8(s + j) & 63u), f32(qb_u8(s + j + 4u) & 63u));
  }
  let sc = (qb_u8(s + j + 4u) & 15u) | ((qb_u8(s + j - 4u) >> 6u) << 4u);
  let mn = (qb_u8(s + j + 4u) >> 4u) | ((qb_u8(s + j) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(mn));
}
#endif

#if QT_Q4_K
const QT_VALUES = 256u; const QT_BYTES = 144u; const QT_UNITS = 8u;
// d, dmin, scales[12], qs[128]: unit u uses qs[32·(u/2) + l], low nibble for even u, high for odd.
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb);
  let dmin = qb_f16(bb + 2u);
  let sm = k_scale_min(bb, u);
  let d1 = d * sm.x;
  let m1 = dmin * sm.y;
  let sh = (u & 1u) * 4u;
  let q0 = bb + 16u + 32u * (u >> 1u);
  for (var l = 0u; l < 32u; l += 4u) {
    let q = w_word((q0 + l) >> 2u) >> sh;
    wv[l] = d1 * f32(q & 15u) - m1; wv[l + 1u] = d1 * f32((q >> 8u) & 15u) - m1;
    wv[l + 2u] = d1 * f32((q >> 16u) & 15u) - m1; wv[l + 3u] = d1 * f32((q >> 24u) & 15u) - m1;
  }
}
#endif

#if QT_Q5_K
const QT_VALUES = 256u; const QT_BYTES = 176u; const QT_UNITS = 8u;
// d, dmin, scales[12], qh[32], qs[128]: like Q4_K plus bit u of qh[l] as the 5th bit.
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb);
  let dmin = qb_f16(bb + 2u);
  let sm = k_scale_min(bb, u);
  let d1 = d * sm.x;
  let m1 = dmin * sm.y;
  let sh = (u & 1u) * 4u;
  let q0 = bb + 48u + 32u * (u >> 1u);
  for (var l = 0u; l < 32u; l++) {
    let q = (qb_u8(q0 + l) >> sh) & 15u;
    let h = ((qb_u8(bb + 16u + l) >> u) & 1u) << 4u;
    wv[l] = d1 * f32(q | h) - m1;
  }
}
#endif

#if QT_Q6_K
const QT_VALUES = 256u; const QT_BYTES = 210u; const QT_UNITS = 8u;
// ql[128], qh[64], scales:i8[16], d. Unit u: half n = u/4, quarter k = u%4 of that half.
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb + 208u);
  let n = u >> 2u;
  let k = u & 3u;
  let ql0 = bb + n * 64u + (k & 1u) * 32u;
  let qh0 = bb + 128u + n * 32u;
  let shl = (k >> 1u) * 4u;
  for (var l = 0u; l < 32u; l++) {
    let lo = (qb_u8(ql0 + l) >> shl) & 15u;
    let hi = (qb_u8(qh0 + l) >> (2u * k)) & 3u;
    let sc = qb_i8(qb_u8(bb + 192u + n * 8u + (l >> 4u) + 2u * k));
    wv[l] = d * sc * (f32(lo | (hi << 4u)) - 32.0);
  }
}
#endif

#if QT_Q2_K
const QT_VALUES = 256u; const QT_BYTES = 84u; const QT_UNITS = 8u;
// scales[16] (low 4 bits scale, high 4 bits min), qs[64], d, dmin.
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb + 80u);
  let dmin = qb_f16(bb + 82u);
  let n = u >> 2u;
  let sh = 2u * (u & 3u);
  for (var l = 0u; l < 32u; l++) {
    let sc = qb_u8(bb + n * 8u + 2u * (u & 3u) + (l >> 4u));
    let q = (qb_u8(bb + 16u + n * 32u + l) >> sh) & 3u;
    wv[l] = d * f32(sc & 15u) * f32(q) - dmin * f32(sc >> 4u);
  }
}
#endif

#if QT_Q3_K
const QT_VALUES = 256u; const QT_BYTES = 110u; const QT_UNITS = 8u;
// hmask[32], qs[64], scales[12] (16 × 6-bit, biased by 32), d.
fn q3k_scale(bb: u32, i: u32) -> f32 {
  let s = bb + 96u;
  let lo = select(qb_u8(s + i - 8u) >> 4u, qb_u8(s + i) & 15u, i < 8u);
  let hi = (qb_u8(s + 8u + (i & 3u)) >> (2u * (i >> 2u))) & 3u;
  return f32(i32(lo | (hi << 4u)) - 32);
}
fn decode_unit(bb: u32, u: u32) {
  let d = qb_f16(bb + 108u);
  let n = u >> 2u;
  let j = u & 3u;
  let m = 1u << (n * 4u + j);
  for (var l = 0u; l < 32u; l++) {
    let s = q3k_scale(bb, n * 8u + 2u * j + (l >> 4u));
    let q = i32((qb_u8(bb + 32u + n * 32u + l) >> (2u * j)) & 3u);
    let h = select(4, 0, (qb_u8(bb + l) & m) != 0u);
    wv[l] = d * s * f32(q - h);
  }
}
#endif

#if QT_TQ2_0
const QT_VALUES = 256u; const QT_BYTES = 66u; const QT_UNITS = 8u;
// qs[64], d: code of weight 128·j + 32·l + m is bits 2l..2l+1 of qs[32·j + m] (u = 4j + l).
fn code_unit(bb: u32, u: u32) -> f32 {
  let sh = 2u * (u & 3u);
  let q0 = bb + 32u * (u >> 2u); // blocks are 66 bytes: only 2-byte aligned
  for (var m = 0u; m < 32u; m += 4u) {
    let w = qb_u32(q0 + m) >> sh;
    tq[m] = w & 3u; tq[m + 1u] = (w >> 8u) & 3u; tq[m + 2u] = (w >> 16u) & 3u; tq[m + 3u] = (w >> 24u) & 3u;
  }
  return qb_f16(bb + 64u);
}
#endif

#if QT_TQ1_0
const QT_VALUES = 256u; const QT_BYTES = 54u; const QT_UNITS = 8u;
// qs[48], qh[4], d. Five trits per byte as a base-3 fixed-point fraction: trit n of byte b is
// ((b · 3^n mod 256) · 3) >> 8. Weights 0–159 come from qs[0..31] (trit n → weights 32n + m),
// 160–239 from qs[32..47] (16 per trit), 240–255 from qh (4 per trit, 4 trits).
fn tq1_code(bb: u32, k: u32) -> u32 {
  var byte: u32;
  var n: u32;
  if (k < 160u) { n = k >> 5u; byte = qb_u8(bb + (k & 31u)); }
  else if (k < 240u) { let k2 = k - 160u; n = k2 >> 4u; byte = qb_u8(bb + 32u + (k2 & 15u)); }
  else { let k3 = k - 240u; n = k3 >> 2u; byte = qb_u8(bb + 48u + (k3 & 3u)); }
  let p = array<u32, 5>(1u, 3u, 9u, 27u, 81u)[n];
  return (((byte * p) & 255u) * 3u) >> 8u;
}
fn code_unit(bb: u32, u: u32) -> f32 {
  for (var m = 0u; m < 32u; m++) { tq[m] = tq1_code(bb, 32u * u + m); }
  return qb_f16(bb + 52u);
}
#endif

#if QT_I2_S
const QT_VALUES = 128u; const QT_BYTES = 32u; const QT_UNITS = 4u;
// 128 weights in 32 bytes: weight 32·u + m is bits (6 − 2u)..(7 − 2u) of byte m. One f32 scale
// per tensor, applied by the caller (the unit scale is 1).
fn code_unit(bb: u32, u: u32) -> f32 {
  let sh = 6u - 2u * u;
  for (var m = 0u; m < 32u; m += 4u) {
    let w = w_word((bb + m) >> 2u) >> sh;
    tq[m] = w & 3u; tq[m + 1u] = (w >> 8u) & 3u; tq[m + 2u] = (w >> 16u) & 3u; tq[m + 3u] = (w >> 24u) & 3u;
  }
  return 1.0;
}
#endif
