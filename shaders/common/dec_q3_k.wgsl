// Q3_K (110 bytes): hmask[32] qs[64] scales[12] d:f16. Element e = 128h + 32j + 16s + l:
// q = ((qs[32h + 16s + l] >> 2j) & 3) − (hmask bit (4h + j) of byte 16s + l clear ? 4 : 0),
// value = d·(scale[e / 16] − 32)·q, with 6-bit scale k = low nibble of scales[k % 8] (shifted by
// 4·(k / 8)) | bits 2·(k / 4).. of scales[8 + k % 4] as the top two bits.
const QK: u32 = 256u;
const QB: u32 = 110u;
const NCH: u32 = 16u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let d = ldf16(bo + 108u);
  let lo = (ld8(bo + 96u + (c & 7u)) >> (4u * (c >> 3u))) & 15u;
  let hi = (ld8(bo + 104u + (c & 3u)) >> (2u * (c >> 2u))) & 3u;
  let sc = f32(i32(lo | (hi << 4u)) - 32);
  let h = c >> 3u;
  let j = (c >> 1u) & 3u;
  let s = c & 1u;
  let qo = bo + 32u + 32u * h + 16u * s;
  let mo = bo + 16u * s;
  var q: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) {
    let lowbits = bytes_field(ldw(qo + 4u * i), 2u * j, 3u);
    let hbit = bytes_field(ldw(mo + 4u * i), 4u * h + j, 1u);
    q[i] = vec4<f32>(lowbits) - 4.0 + 4.0 * vec4<f32>(hbit);
  }
  acc16(q, col + 16u * c, d * sc);
}
