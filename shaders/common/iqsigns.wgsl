// Sign bits of the codebook IQ types: bit j of `bits` set makes value j negative.
fn iq_signs4(bits: u32) -> vec4<f32> {
  return vec4<f32>(1.0) - 2.0 * vec4<f32>((vec4<u32>(bits) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u));
}
