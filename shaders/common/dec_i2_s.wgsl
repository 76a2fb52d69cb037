// I2_S (BitNet): 128-element blocks of 32 bytes; byte g holds elements g, 32+g, 64+g, 96+g in
// bits 7:6, 5:4, 3:2, 1:0 (most significant first). Code 0/1/2 = −1/0/+1 times the per-tensor
// scale, applied once per output row by the kernel (part.scale). Chunk p (plane, 32 elements) is
// the 8 words of the block shifted by 6 − 2p.
const QK: u32 = 128u;
const QB: u32 = 32u;
const NCH: u32 = 4u;
fn chunk_dot(bo: u32, c: u32, col: u32) {
  let sh = 6u - 2u * c;
  var codes: array<vec4<u32>, 8>;
  var any3 = 0u;
  for (var i = 0u; i < 8u; i++) {
    let w = W[(bo >> 2u) + i] >> sh;
    any3 |= w & (w >> 1u);
    codes[i] = bytes_field(w, 0u, 3u);
  }
  tacc32(codes, col + 32u * c, 1.0, (any3 & 0x01010101u) != 0u);
}
