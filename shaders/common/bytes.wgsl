// Loads from the weight buffer `W: array<u32>` at byte offsets (the includer declares W).
// GGUF blocks are only 2-byte aligned for Q4_0 (18 bytes), Q5_0 (22), Q8_0 (34), Q3_K (110),
// Q6_K (210), TQ1_0 (54), TQ2_0 (66): a row or block may start in the middle of a word. Those
// types are read in place (docs/kernels.md says why) with {{ALIGNED}} = false:
// a run of n words at a half-word offset costs n + 1 loads, each word the funnel of two
// neighbours. The `(hi << 1) << (31 − s)` form is branch-free and yields 0 when s = 0 (a shift by
// 32 would be undefined), so aligned blocks of the same tensor take the same path.

fn funnel(lo: u32, hi: u32, s: u32) -> u32 {
#if ALIGNED
  return lo;
#else
  return (lo >> s) | ((hi << 1u) << (31u - s));
#endif
}

// One word at any even byte offset (2 loads when unaligned).
fn ldw(o: u32) -> u32 {
#if ALIGNED
  return W[o >> 2u];
#else
  let i = o >> 2u;
  return funnel(W[i], W[i + 1u], (o & 3u) << 3u);
#endif
}

// Two consecutive words at any byte offset (3 loads and 2 funnel shifts when unaligned).
fn ld2w(o: u32) -> vec2<u32> {
  let i = o >> 2u;
  let s = (o & 3u) << 3u;
  let w1 = W[i + 1u];
  return vec2<u32>(funnel(W[i], w1, s), funnel(w1, W[i + 2u], s));
}

// f16 → f32 by integer rebias instead of unpack2x16float (SwiftShader runs that as a slow
// general conversion; F16 mat-vec measured 2× slower with it): the 15 magnitude bits moved to an
// f32's exponent/mantissa plus 112 on the exponent are exact for normal halves. A subnormal half
// (exponent 0, value m·2^-24) is built as 2^-14·(1 + m/1024) and 2^-14 taken off, exactly.
// Inf/NaN, which no weight file stores, become 65536·(1 + m/1024) rather than inf/NaN.
fn half2(w: u32) -> vec2<f32> {
  let h = vec2<u32>(w & 0xffffu, w >> 16u);
  let sub = (h & vec2<u32>(0x7c00u)) == vec2<u32>(0u);
  let bias = select(vec2<u32>(0x38000000u), vec2<u32>(0x38800000u), sub);
  let mag = bitcast<vec2<f32>>(((h & vec2<u32>(0x7fffu)) << vec2<u32>(13u)) + bias);
  let v = select(mag, mag - vec2<f32>(6.103515625e-05), sub);
  return bitcast<vec2<f32>>(bitcast<vec2<u32>>(v) | ((h & vec2<u32>(0x8000u)) << vec2<u32>(16u)));
}
fn half1(h: u32) -> f32 { return half2(h).x; }

// 16 bits at an even byte offset, one byte at any offset.
fn ld16(o: u32) -> u32 { return (W[o >> 2u] >> ((o & 2u) << 3u)) & 0xffffu; }
fn ldf16(o: u32) -> f32 { return half1(ld16(o)); }
fn ld8(o: u32) -> u32 { return (W[o >> 2u] >> ((o & 3u) << 3u)) & 0xffu; }
// Byte k (0..3) of word w.
fn byte_of(w: u32, k: u32) -> u32 { return (w >> (k << 3u)) & 0xffu; }

// Per-lane shifts that spread the 4 bytes of a word over a vec4.
const SH8 = vec4<u32>(0u, 8u, 16u, 24u);
// Field `mask` wide at bit `sh` of each byte of w, as u32 lanes.
fn bytes_field(w: u32, sh: u32, mask: u32) -> vec4<u32> { return (vec4<u32>(w) >> (SH8 + vec4<u32>(sh))) & vec4<u32>(mask); }
// Sign-extending int8 → f32 for the 4 bytes of a word.
fn i8x4(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}
