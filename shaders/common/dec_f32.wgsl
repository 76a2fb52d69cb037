// F32: a "block" is {{FB}} consecutive floats (the largest of 32/16/8/4 dividing the row).
const QK: u32 = {{FB}}u;
const QB: u32 = {{FB}}u * 4u;
const NCH: u32 = 1u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  for (var i = 0u; i < QK / 4u; i++) {
    let o = (bo >> 2u) + 4u * i;
    let w = bitcast<vec4<f32>>(vec4<u32>(W[o], W[o + 1u], W[o + 2u], W[o + 3u]));
    for (var t = 0u; t < TT; t++) { acc[t] += dot(w, xv(t, col + 4u * i)); }
  }
}
