// Q4_1 (20 bytes): d:f16, m:f16, qs[16]; value = d·q + m, nibbles ordered as Q4_0.
const QK: u32 = 32u;
const QB: u32 = 20u;
const NCH: u32 = 1u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let dm = unpack2x16float(ldw(bo));
  var q: array<vec4<f32>, 8>;
  for (var i = 0u; i < 4u; i++) {
    let w = ldw(bo + 4u + 4u * i);
    q[i] = vec4<f32>(bytes_field(w, 0u, 15u));
    q[i + 4u] = vec4<f32>(bytes_field(w, 4u, 15u));
  }
  acc32m(q, col, dm.x, dm.y);
}
