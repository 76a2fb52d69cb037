// Sampling parameters, one uniform buffer of 48 bytes written when a request starts
// (src/kernels/sample.ts: encodeSamplingParams). Off values in brackets.
struct SamplingParams {
  temperature: f32,        // [<= 0: greedy argmax]
  top_k: u32,              // [0]
  top_p: f32,              // [>= 1]
  min_p: f32,              // [<= 0]
  repeat_penalty: f32,     // [1]
  frequency_penalty: f32,  // [0]
  presence_penalty: f32,   // [0]
  penalty_last_n: u32,     // [0] window of the token history the penalties look at
  seed: u32,
  _r0: u32,
  _r1: u32,
  _r2: u32,
}

// Order-preserving map of an f32 to a u32 (a < b ⇔ key(a) < key(b)); NaN is mapped below -inf.
fn f32_key(z: f32) -> u32 {
  let b = bitcast<u32>(z);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; }
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// A logit made safe for arithmetic: NaN and anything below -3e38 (-inf) become -3e38. Checked on
// the bits, since WGSL lets compilers assume floats are never NaN or infinite.
fn finite_logit(z: f32) -> f32 {
  let b = bitcast<u32>(z);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return -3.0e38; }
  return max(z, -3.0e38);
}

// PCG hash (O'Neill's RXS-M-XS output on an LCG step): a counter-based generator, so draw d of step
// `counter` with `seed` is the same wherever and whenever it is computed.
fn pcg_hash(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// Uniform in [0, 1) with 24 random bits.
fn uniform01(seed: u32, counter: u32, draw: u32) -> f32 {
  let h = pcg_hash(pcg_hash(pcg_hash(seed) ^ counter) ^ (draw * 0x9e3779b9u));
  return f32(h >> 8u) * (1.0 / 16777216.0);
}
