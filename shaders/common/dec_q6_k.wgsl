// Q6_K (210 bytes): ql[128] qh[64] scales: int8[16] d:f16. Element e = 128h + 32g + 16s + l:
// q = (nibble (g >> 1) of ql[64h + 32(g & 1) + 16s + l]) | ((qh[32h + 16s + l] >> 2g) & 3) << 4,
// value = d·scales[e / 16]·(q − 32). A chunk is 16 elements: chunk c = e / 16 uses scales[c].
const QK: u32 = 256u;
const QB: u32 = 210u;
const NCH: u32 = 16u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let d = ldf16(bo + 208u);
  let sc = f32((i32(ld8(bo + 192u + c)) << 24u) >> 24u);
  let h = c >> 3u;
  let g = (c >> 1u) & 3u;
  let s = c & 1u;
  let lo = bo + 64u * h + 32u * (g & 1u) + 16u * s;
  let ho = bo + 128u + 32u * h + 16u * s;
  var q: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) {
    let ql = bytes_field(ldw(lo + 4u * i), 4u * (g >> 1u), 15u);
    let qh = bytes_field(ldw(ho + 4u * i), 2u * g, 3u);
    q[i] = vec4<f32>(ql | (qh << vec4<u32>(4u))) - 32.0;
  }
  acc16(q, col + 16u * c, d * sc);
}
