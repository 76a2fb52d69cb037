// Q4_0 (18 bytes): d:f16, qs[16]; element j = (qs[j] & 15) − 8, element 16 + j = (qs[j] >> 4) − 8.
const QK: u32 = 32u;
const QB: u32 = 18u;
const NCH: u32 = 1u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let d = ldf16(bo);
  var q: array<vec4<f32>, 8>;
  for (var i = 0u; i < 4u; i++) {
    let w = ldw(bo + 2u + 4u * i);
    q[i] = vec4<f32>(bytes_field(w, 0u, 15u)) - 8.0;
    q[i + 4u] = vec4<f32>(bytes_field(w, 4u, 15u)) - 8.0;
  }
  acc32(q, col, d);
}
