// What a block decoder hands the kernels: one chunk of CW vec4s of weights.
// Dq from decode_q(): the integer codes q as f32 (exact) in equal groups of consecutive vec4s
// (NG in the kernels), group g's weight = a[g]·q + m[g]. decode(), defined below for every
// non-ternary decoder, returns the same struct with the weights themselves in v (a·q + m
// applied), for lookups. The mat-vec kernels take the scales out of the sum —
// Σ w·x = a·Σ q·x + m·Σ x, with Σ x per group computed once per input chunk and shared by every
// row — so a weight costs a convert and a multiply-add, not a dequantization on top.
// Tq (ternary): codes 0..3 meaning −1, 0, +1, +2 plus the chunk's scale (code 3 is never written
// by quantizers — has3 says whether the chunk holds one).
struct Dq {
#for I in 0..{{CW}}
  v{{I}}: vec4<f32>,
#endfor
  a: vec4<f32>,
  m: vec4<f32>,
}
struct Tq {
#for I in 0..{{CW}}
  c{{I}}: vec4<u32>,
#endfor
  d: f32,
  has3: bool,
}

#if !TERNARY
// The weights themselves (a·q + m applied), for consumers that want values rather than codes
// (the embedding lookup); vec4 I belongs to scale group I·NG/CW.
fn decode(bo: u32, c: u32) -> Dq {
  var q = decode_q(bo, c);
#for I in 0..{{CW}}
  q.v{{I}} = fma(q.v{{I}}, vec4<f32>(q.a[{{I * NG / CW}}]), vec4<f32>(q.m[{{I * NG / CW}}]));
#endfor
  return q;
}
#endif
