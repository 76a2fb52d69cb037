// Helpers of the codebook IQ types (their grids are appended to each decoder by gpu-decoders.ts).
// Sign bits: bit j of `bits` set makes value j negative.
fn iq_signs4(bits: u32) -> vec4<f32> {
  return vec4<f32>(1.0) - 2.0 * vec4<f32>((vec4<u32>(bits) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u));
}
// ggml's ksigns_iq2xs: 7 stored sign bits, the 8th set when that makes the count of negatives even.
fn iq_ksigns(s7: u32) -> u32 { return s7 | ((countOneBits(s7) & 1u) << 7u); }
// Four values of an IQ2 grid entry (2-bit level indices 0, 1, 2 → 8, 25, 43) from its code
// shifted so that the wanted four are its low 8 bits.
fn iq2_levels(code: u32) -> vec4<f32> {
  let i = (vec4<u32>(code) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u);
  return vec4<f32>(vec4<u32>(8u) + 17u * i + (i >> vec4<u32>(1u)));
}
// Four values of an IQ3_XXS grid entry (3-bit level indices i → 4 + 8i, the last pulled to 62).
fn iq3xxs_levels(code: u32) -> vec4<f32> {
  let i = (vec4<u32>(code) >> vec4<u32>(0u, 3u, 6u, 9u)) & vec4<u32>(7u);
  return vec4<f32>(vec4<u32>(4u) + 8u * i + select(vec4<u32>(0u), vec4<u32>(2u), i == vec4<u32>(7u)));
}
// Four values of an IQ1 grid entry (2-bit level indices i → i − 1), times 8, plus δ·8 = ±1: the
// IQ1 types' grid + δ as integers, their scale carrying the 1/8.
fn iq1_codes(code: u32, delta8: f32) -> vec4<f32> {
  let i = (vec4<u32>(code) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u);
  return 8.0 * (vec4<f32>(i) - 1.0) + delta8;
}
