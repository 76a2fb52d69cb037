// BF16: the top 16 bits of an f32.
const QK: u32 = {{FB}}u;
const QB: u32 = {{FB}}u * 2u;
const NCH: u32 = 1u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  for (var i = 0u; i < QK / 4u; i++) {
    let o = (bo >> 2u) + 2u * i;
    let a = W[o];
    let b = W[o + 1u];
    let w = bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
    for (var t = 0u; t < TT; t++) { acc[t] += dot(w, xv(t, col + 4u * i)); }
  }
}
