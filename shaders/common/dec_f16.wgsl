// F16 without shader-f16: two halves per word, unpacked with unpack2x16float.
const QK: u32 = {{FB}}u;
const QB: u32 = {{FB}}u * 2u;
const NCH: u32 = 1u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  for (var i = 0u; i < QK / 4u; i++) {
    let o = (bo >> 2u) + 2u * i;
    let w = vec4<f32>(unpack2x16float(W[o]), unpack2x16float(W[o + 1u]));
    for (var t = 0u; t < TT; t++) { acc[t] += dot(w, xv(t, col + 4u * i)); }
  }
}
