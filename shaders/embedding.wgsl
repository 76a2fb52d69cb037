// Embedding lookup: out[t] = row ids[BASE + t] of the table, decoded to f32, for t < n_tokens.
// BASE is step.pos0 with BY_POSITION (ids = the token history, indexed by position) and 0
// otherwise (ids = this step's tokens, e.g. the sampler's output buffer).
// A table split into parts by whole rows is looked up with one dispatch per part: the part holds
// rows ROW_START … ROW_START + ROW_COUNT - 1 and writes only the tokens whose id falls there; ids
// past the table (corrupt input) give a zero row, written by the part with ZERO_OOB.
// The table is raw GGUF bytes read as u32 words (W, and W4 as 16-byte words for decoders that
// use them); one thread decodes one UNIT of a row:
//   F32: 1 value   F16/BF16: 2 values (one word)
//   block types (QUANT): one chunk of a block, decoded by the mat-vec kernels' decoder of the
//   type (DECODER, shaders/common/dec_*.wgsl): CW vec4s at block columns chunk_x(c, i).
#include "step"
#if QUANT
#include "bytes"
#include "{{DECODER}}"
#include "block_at"
#else
#include "f16"
#endif

const COLS: u32 = {{COLS}}u;
const ROWS: u32 = {{ROWS}}u;
const UNITS: u32 = {{UNITS}}u;   // units per row
const WG: u32 = 64u;
override ROW_START: u32 = 0u;
override ROW_COUNT: u32 = 0u;
override ZERO_OOB: bool = false;
#if TERNARY
// Ternary tables: weight = (code − 1) · block scale · SCALE (I2_S: the per-tensor scale; else 1).
override SCALE: f32 = 1.0;
#endif

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [T][COLS]
#if USES_W4
@group(0) @binding(4) var<storage, read> W4: array<vec4<u32>>;
#endif

#if QUANT
const ROW_BYTES: u32 = {{ROW_BYTES}}u;

// vec4 i of chunk c → the row's columns base + chunk_x(c, i) …+3. Chunk vec4s that are only
// padding (TQ1_0's chunks 0 and 1 fill 4 of their 24 vec4s with code 1, pointing them at block
// column 0) are skipped: block column 0 belongs to vec4 0 of chunk 0 alone.
fn put(base: u32, c: u32, i: u32, v: vec4<f32>) {
  let x = chunk_x(c, i);
  if (x == 0u && (c != 0u || i != 0u)) { return; }
  let o = base + x;
  out[o] = v.x;
  out[o + 1u] = v.y;
  out[o + 2u] = v.z;
  out[o + 3u] = v.w;
}
#endif

fn emb_unit(r: u32, u: u32, dst: u32) {
#if QUANT
  let b = u / NCH;
  let c = u % NCH;
  let bo = block_at(r * ROW_BYTES, b);
  let base = dst + b * QK;
#if TERNARY
  let q = decode_t(bo, c);
  let d = q.d * SCALE;
#for I in 0..{{CW}}
  put(base, c, {{I}}u, (vec4<f32>(q.c{{I}}) - 1.0) * d);
#endfor
#else
  let q = decode(bo, c);
#for I in 0..{{CW}}
  put(base, c, {{I}}u, q.v{{I}});
#endfor
#endif
#endif
#if F32
  out[dst + u] = bitcast<f32>(W[r * COLS + u]);
#endif
#if F16
  let w = W[r * UNITS + u];
  out[dst + 2u * u] = f16_lo(w);
  out[dst + 2u * u + 1u] = f16_hi(w);
#endif
#if BF16
  let w = W[r * UNITS + u];
  out[dst + 2u * u] = bf16_lo(w);
  out[dst + 2u * u + 1u] = bf16_hi(w);
#endif
}

fn zero_unit(u: u32, dst: u32) {
#if QUANT
  let c = u % NCH;
  let base = dst + (u / NCH) * QK;
#for I in 0..{{CW}}
  put(base, c, {{I}}u, vec4<f32>(0.0));
#endfor
#else
#if F32
  out[dst + u] = 0.0;
#else
  out[dst + 2u * u] = 0.0;
  out[dst + 2u * u + 1u] = 0.0;
#endif
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  let t = idx / UNITS;
  if (t >= step.n_tokens) { return; }
  let u = idx % UNITS;
#if BY_POSITION
  let slot = step.pos0 + t;
#else
  let slot = t;
#endif
  let id = select(0xffffffffu, ids[slot], slot < arrayLength(&ids));
  let dst = t * COLS;
  if (id >= ROWS) {
    if (ZERO_OOB) { zero_unit(u, dst); }
    return;
  }
  if (id < ROW_START || id - ROW_START >= ROW_COUNT) { return; }
  emb_unit(id - ROW_START, u, dst);
}
