// The mat-vec/mat-mul kernels' bindings and output store, shared by matmul.wgsl and
// matmul_tiled.wgsl (src/kernels/matmul.ts builds the one bind-group layout and writes Part).
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
}

@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
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

// Output of row r (of the part) for token tok; rows and tokens past the part or batch are dropped.
fn store(r: u32, tok: u32, nT: u32, v: f32) {
  if (r < part.rows && tok < nT) { Y[tok * part.yStride + part.outBase + r] = v * part.scale; }
}
