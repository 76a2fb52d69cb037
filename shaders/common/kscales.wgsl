// Q4_K/Q5_K scale bytes: 8 (scale, min) pairs of 6 bits packed in the 12 bytes s[0..12) after
// d and dmin, i.e. words 1..3 of the block's first 16-byte word h. ggml's get_scale_min_k4:
// j < 4: s[j] & 63, s[j+4] & 63; else (s[j+4] & 15) | (s[j−4] >> 6) << 4, (s[j+4] >> 4) | (s[j] >> 6) << 4.
// Needs the byte helpers of "bytes" (byte_of), which every kernel includes first.
fn kscale_byte(h: vec4<u32>, k: u32) -> u32 {
  let w = select(select(h.w, h.z, k < 8u), h.y, k < 4u);
  return byte_of(w, k & 3u);
}
fn scale_min_k4(h: vec4<u32>, j: u32) -> vec2<f32> {
  if (j < 4u) {
    return vec2<f32>(f32(kscale_byte(h, j) & 63u), f32(kscale_byte(h, j + 4u) & 63u));
  }
  let b = kscale_byte(h, j + 4u);
  return vec2<f32>(f32((b & 15u) | ((kscale_byte(h, j - 4u) >> 6u) << 4u)), f32((b >> 4u) | ((kscale_byte(h, j) >> 6u) << 4u)));
}
