// Gate activations of gated FFNs, over the includer's `alias T` (f32 or vec4<f32>):
//   silu(a)·b (SwiGLU), gelu(a)·b (GeGLU, tanh approximation as ggml_gelu), relu(a)²·b (BitNet
// b1.58's squared ReLU). Shared by the element-wise kernel and the mat-vec's GLU epilogue.

fn silu(x: T) -> T { return x / (T(1.0) + exp(-x)); }

fn gelu(x: T) -> T {
  // 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x³))); the argument is clamped because tanh of a large
  // value may overflow internally (exp) on some implementations.
  let u = clamp(0.7978845608028654 * x * (T(1.0) + 0.044715 * x * x), T(-15.0), T(15.0));
  return 0.5 * x * (T(1.0) + tanh(u));
}

fn relu2(x: T) -> T {
  let p = max(x, T(0.0));
  return p * p;
}
