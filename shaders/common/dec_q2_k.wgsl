// Q2_K (84 bytes): scales[16] qs[64] d:f16 dmin:f16. Element e = 128h + 32j + 16s + l has
// q = (qs[32h + 16s + l] >> 2j) & 3 and 4-bit scale/min byte scales[e / 16]
// (value = d·(sc & 15)·q − dmin·(sc >> 4)). A chunk is 16 elements, so chunk c uses scales[c].
const QK: u32 = 256u;
const QB: u32 = 84u;
const NCH: u32 = 16u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let dd = unpack2x16float(ldw(bo + 80u));
  let sc = ld8(bo + c);
  let h = c >> 3u;
  let j = (c >> 1u) & 3u;
  let s = c & 1u;
  let qo = bo + 16u + 32u * h + 16u * s;
  var q: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) { q[i] = vec4<f32>(bytes_field(ldw(qo + 4u * i), 2u * j, 3u)); }
  acc16m(q, col + 16u * c, dd.x * f32(sc & 15u), -dd.y * f32(sc >> 4u));
}
