// Q5_1 (24 bytes): d:f16, m:f16, qh:u32, qs[16]; value = d·q + m (5-bit q as in Q5_0).
const QK: u32 = 32u;
const QB: u32 = 24u;
const NCH: u32 = 1u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let dm = unpack2x16float(ldw(bo));
  let qh = ldw(bo + 4u);
  var q: array<vec4<f32>, 8>;
  for (var i = 0u; i < 4u; i++) {
    let w = ldw(bo + 8u + 4u * i);
    let hlo = (vec4<u32>(qh) >> (vec4<u32>(0u, 1u, 2u, 3u) + 4u * i)) & vec4<u32>(1u);
    let hhi = (vec4<u32>(qh) >> (vec4<u32>(16u, 17u, 18u, 19u) + 4u * i)) & vec4<u32>(1u);
    q[i] = vec4<f32>(bytes_field(w, 0u, 15u) | (hlo << vec4<u32>(4u)));
    q[i + 4u] = vec4<f32>(bytes_field(w, 4u, 15u) | (hhi << vec4<u32>(4u)));
  }
  acc32m(q, col, dm.x, dm.y);
}
