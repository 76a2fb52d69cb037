// Rounds n_tokens rows (at most MAX_TOKENS: a one-row LM head runs after a prefill step's
// params) of COLS f32 activations the way llama.cpp's CPU backend rounds a mat-mul's input before its dot products with the weights (the weight type's vec_dot_type), and writes the
// rounded values d·q back as f32 (src/kernels/ggml-round.ts). An f32 mat-mul over the result then
// equals llama.cpp's integer dot product up to f32 summation order. A thread per block of BLOCK
// values (a row holds COLS / BLOCK of them), one format:
//   Q8_K  per 256: max = the value of largest |x| (the first, on ties), iscale = −127/max,
//         q = min(127, round_even(iscale·x)), d = 1/iscale in f32; an all-zero block stays zero
//   Q8_0  per 32 (also Q8_1's codes): amax = max|x|, q = round_even(x·(127/amax)) (0 when
//         amax = 0), d = amax/127 stored as f16, so the value is f16(d)·q
//   F16   per value: nearest f16 (ties to even; ±inf from 65520 on)
//   BF16  per value: nearest bf16 (ties to even; NaN stays NaN)
// WGSL's round() rounds halves to even, as ggml's nearest_int and AVX's _MM_ROUND_NEAREST do.
#include "step"

const COLS: u32 = {{COLS}}u;
const BLOCK: u32 = {{BLOCK}}u;
const ROW_BLOCKS: u32 = COLS / BLOCK;
const MAX_TOKENS: u32 = {{MAX_TOKENS}}u;
const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

// a / b correctly rounded, as C's f32 division: WGSL lets a division be 2.5 ulp off, and one ulp
// in a scale moves every value of its block. Long division of the 24-bit significands in u32
// (exact) for normal operands and a normal quotient; anything else (zero, subnormal, inf, NaN)
// takes the native division. A quotient of two 24-bit significands is never halfway between two
// f32s, so rounding up from half a unit is round-to-nearest.
fn div_exact(a: f32, b: f32) -> f32 {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let ea = i32((ba >> 23u) & 0xffu);
  let eb = i32((bb >> 23u) & 0xffu);
  if (ea == 0 || ea == 255 || eb == 0 || eb == 255) { return a / b; }
  let mb = (bb & 0x7fffffu) | 0x800000u;
  var num = (ba & 0x7fffffu) | 0x800000u;
  var e = ea - eb;
  if (num < mb) {
    num = num << 1u;
    e -= 1;
  }
  var q = 1u;
  var rem = num - mb;
  for (var i = 0u; i < 23u; i++) {
    rem = rem << 1u;
    q = q << 1u;
    if (rem >= mb) {
      rem -= mb;
      q |= 1u;
    }
  }
  let field = e + 127;
  if (field < 1 || field > 254) { return a / b; }
  let up = select(0u, 1u, 2u * rem > mb);
  return bitcast<f32>(((ba ^ bb) & 0x80000000u) | ((u32(field) << 23u) + (q - 0x800000u) + up));
}

// The nearest f16 of x as an f32, ties to even, without shader-f16 (whose conversion rounding
// WGSL leaves to the implementation).
fn round_f16(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  let mag = bits & 0x7fffffffu;
  if (mag > 0x7f800000u) { return x; }                        // NaN
  if (mag >= 0x477ff000u) { return bitcast<f32>((bits & 0x80000000u) | 0x7f800000u); } // ≥ 65520: ±inf
  if (mag < 0x38800000u) { return round(x * 16777216.0) * 5.9604644775390625e-8; }     // f16 subnormal: steps of 2^-24
  return bitcast<f32>((bits + 0x0fffu + ((bits >> 13u) & 1u)) & 0xffffe000u);
}

fn round_bf16(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) { return x; }
  return bitcast<f32>((bits + 0x7fffu + ((bits >> 16u) & 1u)) & 0xffff0000u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = gid.x + gid.y * nwg.x * WG;
  if (b >= min(step.n_tokens, MAX_TOKENS) * ROW_BLOCKS) { return; }
  let base = b * BLOCK;
#if Q8_K
  var amax = 0.0;
  var vmax = 0.0;
  for (var j = 0u; j < BLOCK; j++) {
    let v = X[base + j];
    if (abs(v) > amax) {
      amax = abs(v);
      vmax = v;
    }
  }
  if (amax == 0.0) {
    for (var j = 0u; j < BLOCK; j++) { Y[base + j] = 0.0; }
    return;
  }
  let iscale = div_exact(-127.0, vmax);
  let d = div_exact(1.0, iscale);
  for (var j = 0u; j < BLOCK; j++) {
    Y[base + j] = d * min(127.0, round(iscale * X[base + j]));
  }
#endif
#if Q8_0
  var amax = 0.0;
  for (var j = 0u; j < BLOCK; j++) { amax = max(amax, abs(X[base + j])); }
  let d = round_f16(div_exact(amax, 127.0));
  let id = select(0.0, div_exact(127.0, amax), amax != 0.0);
  for (var j = 0u; j < BLOCK; j++) {
    Y[base + j] = d * round(X[base + j] * id);
  }
#endif
#if F16
  Y[base] = round_f16(X[base]);
#endif
#if BF16
  Y[base] = round_bf16(X[base]);
#endif
}
