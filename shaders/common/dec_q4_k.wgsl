// Q4_K (144 bytes): d:f16 dmin:f16 scales[12] qs[128]. Sub-block c (32 elements) = nibble c & 1 of
// qs[32·(c/2) ..]; value = d·sc_c·q − dmin·m_c with 6-bit (sc, m) packed as ggml's
// get_scale_min_k4: c < 4: s[c] & 63, s[c+4] & 63; else (s[c+4] & 15) | (s[c−4] >> 6) << 4,
// (s[c+4] >> 4) | (s[c] >> 6) << 4.
const QK: u32 = 256u;
const QB: u32 = 144u;
const NCH: u32 = 8u;
fn scale_min_k4(so: u32, c: u32) -> vec2<f32> {
  if (c < 4u) {
    return vec2<f32>(f32(ld8(so + c) & 63u), f32(ld8(so + c + 4u) & 63u));
  }
  let b = ld8(so + c + 4u);
  return vec2<f32>(f32((b & 15u) | ((ld8(so + c - 4u) >> 6u) << 4u)), f32((b >> 4u) | ((ld8(so + c) >> 6u) << 4u)));
}
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let dd = unpack2x16float(ldw(bo));
  let sm = scale_min_k4(bo + 4u, c);
  let qo = bo + 16u + 32u * (c >> 1u);
  let sh = 4u * (c & 1u);
  var q: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i++) { q[i] = vec4<f32>(bytes_field(ldw(qo + 4u * i), sh, 15u)); }
  acc32m(q, col + 32u * c, dd.x * sm.x, -dd.y * sm.y);
}
