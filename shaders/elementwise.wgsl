// Element-wise ops over n_tokens rows of N values, vectorised by VEC (4 when N % 4 == 0).
//   SILU_MUL   r = silu(a) * b            (SwiGLU: a = gate, b = up)
//   GELU_MUL   r = gelu(a) * b            (GeGLU, tanh approximation as ggml_gelu)
//   RELU2_MUL  r = relu(a)² * b           (BitNet b1.58 2B4T's squared-ReLU gate)
//   ADD        r = a + b                  (residual add)
//   BIAS       r = a + b[i % N]           (q/k/v biases, one row broadcast over tokens)
//   SCALE      r = a * b[0]               (a one-element scale tensor)
// r goes to `out` with OUT, otherwise back into `a`.
#include "step"

const N: u32 = {{N}}u;        // values per token
const VEC: u32 = {{VEC}}u;
const NV: u32 = N / VEC;      // vectors per token
const WG: u32 = {{WG}}u;
alias T = {{TYPE}};

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read_write> a: array<T>;
#if SCALE
@group(0) @binding(2) var<storage, read> b: array<f32>;
#else
@group(0) @binding(2) var<storage, read> b: array<T>;
#endif
#if OUT
@group(0) @binding(3) var<storage, read_write> out: array<T>;
#endif

#include "act"

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= step.n_tokens * NV) { return; }
  let x = a[i];
#if SILU_MUL
  let r = silu(x) * b[i];
#endif
#if GELU_MUL
  let r = gelu(x) * b[i];
#endif
#if RELU2_MUL
  let r = relu2(x) * b[i];
#endif
#if ADD
  let r = x + b[i];
#endif
#if BIAS
  let r = x + b[i % NV];
#endif
#if SCALE
  let r = x * b[0];
#endif
#if OUT
  out[i] = r;
#else
  a[i] = r;
#endif
}
