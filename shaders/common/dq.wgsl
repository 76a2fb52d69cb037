// What a block decoder hands the kernels: one chunk of CW vec4s of weights, as f32 values (Dq)
// or, for ternary types, as codes 0..3 meaning −1, 0, +1, +2 plus the chunk's scale (Tq; code 3 is
// never written by quantizers — has3 says whether the chunk holds one).
struct Dq {
#for I in 0..{{CW}}
  v{{I}}: vec4<f32>,
#endfor
}
struct Tq {
#for I in 0..{{CW}}
  c{{I}}: vec4<u32>,
#endfor
  d: f32,
  has3: bool,
}
