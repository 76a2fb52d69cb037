// Q8_0 (34 bytes): d:f16, qs: int8[32]; value = d·q.
const QK: u32 = 32u;
const QB: u32 = 34u;
const NCH: u32 = 1u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let d = ldf16(bo);
  var q: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i++) { q[i] = i8x4(ldw(bo + 2u + 4u * i)); }
  acc32(q, col, d);
}
