// Accumulating a decoded chunk into the per-token accumulators of the including kernel
// (`acc: array<f32, TT>` and `xv(t, col) -> vec4<f32>`, the input of tile token t at column col).
// Every token of the tile reuses the decoded chunk: decode once, TT dot products.

// acc[t] += a · Σ q·x over 16 columns starting at `col`.
fn acc16(q: array<vec4<f32>, 4>, col: u32, a: f32) {
  for (var t = 0u; t < TT; t++) {
    let s = dot(q[0], xv(t, col)) + dot(q[1], xv(t, col + 4u)) + dot(q[2], xv(t, col + 8u)) + dot(q[3], xv(t, col + 12u));
    acc[t] += a * s;
  }
}

// acc[t] += a · Σ q·x + m · Σ x (types whose value is a·q + m).
fn acc16m(q: array<vec4<f32>, 4>, col: u32, a: f32, m: f32) {
  for (var t = 0u; t < TT; t++) {
    let x0 = xv(t, col); let x1 = xv(t, col + 4u); let x2 = xv(t, col + 8u); let x3 = xv(t, col + 12u);
    let s = dot(q[0], x0) + dot(q[1], x1) + dot(q[2], x2) + dot(q[3], x3);
    let sx = dot((x0 + x1) + (x2 + x3), vec4<f32>(1.0));
    acc[t] += a * s + m * sx;
  }
}

fn acc32(q: array<vec4<f32>, 8>, col: u32, a: f32) {
  for (var t = 0u; t < TT; t++) {
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) { s += dot(q[i], xv(t, col + 4u * i)); }
    acc[t] += a * s;
  }
}

fn acc32m(q: array<vec4<f32>, 8>, col: u32, a: f32, m: f32) {
  for (var t = 0u; t < TT; t++) {
    var s = 0.0;
    var sx = vec4<f32>(0.0);
    for (var i = 0u; i < 8u; i++) {
      let x = xv(t, col + 4u * i);
      s += dot(q[i], x);
      sx += x;
    }
    acc[t] += a * s + m * dot(sx, vec4<f32>(1.0));
  }
}

// Ternary chunks: codes 0, 1, 2 mean weights −1, 0, +1 (3 is never written by a quantizer; ggml
// and our CPU reference read it as +2, and so do we, on a slow path taken only when a chunk has
// one). Add-only: each activation is selected into the sum, selected out of it, or skipped; the
// one multiply is by the block scale `d`, once per chunk.
fn tern_sum(c: vec4<u32>, x: vec4<f32>, has3: bool) -> vec4<f32> {
  let z = vec4<f32>(0.0);
  var v = select(z, x, c >= vec4<u32>(2u)) - select(z, x, c == vec4<u32>(0u));
  if (has3) { v += select(z, x, c == vec4<u32>(3u)); }
  return v;
}

fn tacc16(c: array<vec4<u32>, 4>, col: u32, d: f32, has3: bool) {
  for (var t = 0u; t < TT; t++) {
    let v = tern_sum(c[0], xv(t, col), has3) + tern_sum(c[1], xv(t, col + 4u), has3)
          + tern_sum(c[2], xv(t, col + 8u), has3) + tern_sum(c[3], xv(t, col + 12u), has3);
    acc[t] += d * ((v.x + v.y) + (v.z + v.w));
  }
}

fn tacc32(c: array<vec4<u32>, 8>, col: u32, d: f32, has3: bool) {
  for (var t = 0u; t < TT; t++) {
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 8u; i++) { v += tern_sum(c[i], xv(t, col + 4u * i), has3); }
    acc[t] += d * ((v.x + v.y) + (v.z + v.w));
  }
}

// True when a word of 2-bit codes holds a code 3.
fn has_code3(w: u32) -> bool { return (w & (w >> 1u) & 0x55555555u) != 0u; }
