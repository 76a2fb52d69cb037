// One decoded weight chunk dotted with one input chunk, shared by the mat-vec/mat-mul kernels
// (matmul.wgsl) and the tiled GEMM (matmul_tiled.wgsl). The includer has included the decoder
// (decode_q / decode_t and the chunk geometry CW, NG, GS).
// One chunk of input: CW vec4s, and (types with a block min) the sum of each of the NG groups;
// with matmul.wgsl's NORM_IN, q = the sum of the raw inputs' squares.
struct Xq {
#for I in 0..{{CW}}
  x{{I}}: vec4<f32>,
#endfor
  s: vec4<f32>,
  q: f32,
}

fn with_sums(x0: Xq) -> Xq {
  var x = x0;
#if HAS_MIN
#for G in 0..{{NG}}
  var t{{G}} = vec4<f32>(0.0);
#for J in 0..{{GS}}
  t{{G}} += x.x{{G * GS + J}};
#endfor
  x.s[{{G}}] = (t{{G}}.x + t{{G}}.y) + (t{{G}}.z + t{{G}}.w);
#endfor
#endif
  return x;
}

// A chunk of codes with their scales (w = a·q + m per group) dotted with an input chunk; types
// with a min add m·Σx from the input's group sums.
fn dq_dot(w: Dq, x: Xq) -> f32 {
  var r = 0.0;
#for G in 0..{{NG}}
  var s{{G}} = 0.0;
#for J in 0..{{GS}}
  s{{G}} += dot(w.v{{G * GS + J}}, x.x{{G * GS + J}});
#endfor
  r += w.a[{{G}}] * s{{G}};
#if HAS_MIN
  r += w.m[{{G}}] * x.s[{{G}}];
#endif
#endfor
  return r;
}

#if TERNARY
// Add-only: each activation is added, subtracted or skipped by its code (0 → −x, 1 → skip,
// 2 → +x; 3 — never written by quantizers — is +2x as in ggml, on a path taken only when the
// chunk holds one). The codes become select masks once per chunk (Tm), reused by every token of
// the tile; the one multiply is the block scale d, once per chunk and token.
struct Tm {
#for I in 0..{{CW}}
  p{{I}}: vec4<bool>,
  n{{I}}: vec4<bool>,
  t{{I}}: vec4<bool>,
#endfor
  d: f32,
  has3: bool,
}
fn decode_chunk(bo: u32, c: u32) -> Tm {
  let q = decode_t(bo, c);
  var m: Tm;
  m.d = q.d;
  m.has3 = q.has3;
#for I in 0..{{CW}}
  m.p{{I}} = q.c{{I}} >= vec4<u32>(2u);
  m.n{{I}} = q.c{{I}} == vec4<u32>(0u);
#endfor
  // `var m` starts all false; code-3 masks only when the chunk has one.
  if (q.has3) {
#for I in 0..{{CW}}
    m.t{{I}} = q.c{{I}} == vec4<u32>(3u);
#endfor
  }
  return m;
}
fn chunk_dot(w: Tm, x: Xq) -> f32 {
  let z = vec4<f32>(0.0);
  var v = z;
#for I in 0..{{CW}}
  v += select(z, x.x{{I}}, w.p{{I}}) - select(z, x.x{{I}}, w.n{{I}});
#endfor
  if (w.has3) {
#for I in 0..{{CW}}
    v += select(z, x.x{{I}}, w.t{{I}});
#endfor
  }
  return w.d * ((v.x + v.y) + (v.z + v.w));
}
// The weights themselves, for the tiled GEMM: (code − 1)·d, i.e. −d, 0, +d (+2d for code 3, as
// above), exact. A GEMM reuses each decoded weight for a whole tile of tokens, where one FMA per
// weight and token costs less than the masks' two selects, add and subtract.
fn decode_weights(bo: u32, c: u32) -> Dq {
  let q = decode_t(bo, c);
  var r: Dq;
#for I in 0..{{CW}}
  r.v{{I}} = (vec4<f32>(q.c{{I}}) - vec4<f32>(1.0)) * q.d;
#endfor
  return r;
}
#else
fn chunk_dot(w: Dq, x: Xq) -> f32 { return dq_dot(w, x); }
fn decode_chunk(bo: u32, c: u32) -> Dq { return decode_q(bo, c); }
// The weights themselves (a·q + m, dq.wgsl), for the tiled GEMM.
fn decode_weights(bo: u32, c: u32) -> Dq { return decode(bo, c); }
#endif
