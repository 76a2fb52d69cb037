// TQ2_0 (66 bytes): qs[64] d:f16. Element e = 128j + 32l + m has code (qs[32j + m] >> 2l) & 3,
// weight (code − 1)·d. One word of qs gives 4 consecutive elements of each of the 4 planes l, so
// a 32-element chunk c = 4j + l is 8 words shifted by 2l: no byte shuffling.
const QK: u32 = 256u;
const QB: u32 = 66u;
const NCH: u32 = 8u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let d = ldf16(bo + 64u);
  let qo = bo + 32u * (c >> 2u);
  let sh = 2u * (c & 3u);
  var codes: array<vec4<u32>, 8>;
  var any3 = 0u;
  for (var i = 0u; i < 8u; i++) {
    let w = ldw(qo + 4u * i) >> sh;
    any3 |= w & (w >> 1u);
    codes[i] = bytes_field(w, 0u, 3u);
  }
  tacc32(codes, col + 32u * c, d, (any3 & 0x01010101u) != 0u);
}
