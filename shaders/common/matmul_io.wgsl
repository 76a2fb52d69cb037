// The mat-vec/mat-mul kernels' bindings and output store, shared by matmul.wgsl,
// matmul_tiled.wgsl and the int8 mat-vec matvec_q8.wgsl (src/kernels/matmul.ts builds the
// bind-group layout and writes Part). With INT8_X the input is int8 blocks (XQ, from
// quantize_q8.wgsl) whose norm weight the quantizer applied: NORM_IN then binds no G.
// The store carries the fusions' epilogues (residual add, Q/K/V split, and GLU, which needs a
// row's gate and up in one thread).
// Shape and placement, written once at bind time (one per weight part). In a uniform rather than
// compiled in, so one pipeline per type and variant serves every shape of a model.
struct Part {
  rows: u32,       // rows in this part
  outBase: u32,    // output index of the part's first row (outputOffset + part.rowStart)
  inBase4: u32,    // input offset in vec4s
  scale: f32,      // per-tensor scale (I2_S), else 1
  rowBytes: u32,
  rowChunks: u32,  // chunks per row
  xStride4: u32,   // vec4s between tokens' inputs
  yStride: u32,    // floats between tokens' outputs
  maxT: u32,       // token count when there are no step params
  eps: f32,        // NORM_IN: the norm's epsilon
  invCols: f32,    // NORM_IN: 1 / row length
  seg1: u32,       // OUT2: first row written to Y1
  seg2: u32,       // OUT3: first row written to Y2
  y1Stride: u32,   // OUT2: floats between tokens' outputs in Y1
  y2Stride: u32,   // OUT3: floats between tokens' outputs in Y2
  scale1: f32,     // OUT2: the scale of rows [seg1, seg2); GLU: of the up rows
  scale2: f32,     // OUT3: the scale of rows [seg2, rows)
}

@group(0) @binding(0) var<storage, read> W: array<u32>;
#if INT8_X
@group(0) @binding(1) var<storage, read> XQ: array<vec4<u32>>;
#else
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
#endif
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> part: Part;
#if DYNAMIC_T
// The caller's step parameters: word 1 is the number of tokens in this call (src/kernels/step-params.ts).
@group(0) @binding(4) var<uniform> step: vec4<u32>;
#endif
#if USES_W4
// The same weight buffer seen as 16-byte words, for decoders whose fields are 16-byte aligned.
@group(0) @binding(5) var<storage, read> W4: array<vec4<u32>>;
#endif

#if NORM_IN
#if !INT8_X
@group(0) @binding(6) var<storage, read> G: array<vec4<f32>>;   // the norm weight [cols]
#endif
#endif
#if OUT2
@group(0) @binding(7) var<storage, read_write> Y1: array<f32>;
#endif
#if OUT3
@group(0) @binding(8) var<storage, read_write> Y2: array<f32>;
#endif

// Row r of token tok: v0 (with GLU the gate, v1 its up row; ss the input's sum of squares with
// NORM_IN) scaled and activated as the fusions say, then stored; with QOUT (int8 mat-vec) the
// stored value is also kept for the quantizing store (qout_keep in matvec_q8.wgsl).
fn store(r: u32, tok: u32, nT: u32, v0: f32, v1: f32, ss: f32) {
  if (r >= part.rows || tok >= nT) { return; }
#if NORM_IN
  let n = inverseSqrt(ss * part.invCols + part.eps);
#else
  let n = 1.0;
#endif
#if GLU
  let v = {{ACT}}(v0 * part.scale * n) * (v1 * part.scale1 * n);
#else
  var k = part.scale;
#if OUT2
  if (r >= part.seg2) { k = part.scale2; } else if (r >= part.seg1) { k = part.scale1; }
#endif
  let v = v0 * k * n;
#endif
#if OUT3
  if (r >= part.seg2) {
    Y2[tok * part.y2Stride + r - part.seg2] = v;
    return;
  }
#endif
#if OUT2
  if (r >= part.seg1) {
    Y1[tok * part.y1Stride + r - part.seg1] = v;
    return;
  }
#endif
  let i = tok * part.yStride + part.outBase + r;
#if ADD_OUT
  let y = Y[i] + v;
#else
  let y = v;
#endif
  Y[i] = y;
#if QOUT
  qout_keep(r, tok, y);
#endif
}
