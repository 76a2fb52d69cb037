// Q5_K (176 bytes): d dmin scales[12] qh[32] qs[128]. As Q4_K, plus a 5th bit for sub-block c:
// bit c of qh[l].
const QK: u32 = 256u;
const QB: u32 = 176u;
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
  let qo = bo + 48u + 32u * (c >> 1u);
  let sh = 4u * (c & 1u);
  var q: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i++) {
    let hb = bytes_field(ldw(bo + 16u + 4u * i), c, 1u);
    q[i] = vec4<f32>(bytes_field(ldw(qo + 4u * i), sh, 15u) | (hb << vec4<u32>(4u)));
  }
  acc32m(q, col + 32u * c, dd.x * sm.x, -dd.y * sm.y);
}
