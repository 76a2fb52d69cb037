// Q5_0 (22 bytes): d:f16, qh:u32, qs[16]; element e's 5th bit is bit e of qh; value = d·(q − 16).
const QK: u32 = 32u;
const QB: u32 = 22u;
const NCH: u32 = 1u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let d = ldf16(bo);
  let qh = ldw(bo + 2u);
  var q: array<vec4<f32>, 8>;
  for (var i = 0u; i < 4u; i++) {
    let w = ldw(bo + 6u + 4u * i);
    let hlo = (vec4<u32>(qh) >> (vec4<u32>(0u, 1u, 2u, 3u) + 4u * i)) & vec4<u32>(1u);
    let hhi = (vec4<u32>(qh) >> (vec4<u32>(16u, 17u, 18u, 19u) + 4u * i)) & vec4<u32>(1u);
    q[i] = vec4<f32>(bytes_field(w, 0u, 15u) | (hlo << vec4<u32>(4u))) - 16.0;
    q[i + 4u] = vec4<f32>(bytes_field(w, 4u, 15u) | (hhi << vec4<u32>(4u))) - 16.0;
  }
  acc32(q, col, d);
}
