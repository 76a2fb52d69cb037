// Embedding lookup: out[t] = row ids[BASE + t] of the table, decoded to f32, for t < n_tokens.
// BASE is step.pos0 with BY_POSITION (ids = the token history, indexed by position) and 0
// otherwise (ids = this step's tokens, e.g. the sampler's output buffer).
// A table split into parts by whole rows is looked up with one dispatch per part: the part holds
// rows ROW_START … ROW_START + ROW_COUNT - 1 and writes only the tokens whose id falls there; ids
// past the table (corrupt input) give a zero row, written by the part with ZERO_OOB.
// The table is raw GGUF bytes read as u32 words; one thread decodes one UNIT of a row:
//   F32: 1 value   F16/BF16: 2 values (one word)   block types: 32 values, decoded by the
//   shared quant_decode snippet (I2_S tables are not supported: no per-tensor scale here).
#include "step"
#include "f16"
#if QUANT
#include "quant_decode"
#endif

const COLS: u32 = {{COLS}}u;
const ROWS: u32 = {{ROWS}}u;
const UNITS: u32 = {{UNITS}}u;   // units per row
const WG: u32 = 64u;
override ROW_START: u32 = 0u;
override ROW_COUNT: u32 = 0u;
override ZERO_OOB: bool = false;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [T][COLS]

#if QUANT
fn w_word(i: u32) -> u32 { return table[i]; }
const ROW_BYTES: u32 = (COLS / QT_VALUES) * QT_BYTES;
const UV: u32 = QT_VALUES / QT_UNITS;
#endif

fn emb_unit(r: u32, u: u32, dst: u32) {
#if QUANT
  let bb = r * ROW_BYTES + (u / QT_UNITS) * QT_BYTES;
  let o = dst + u * UV;
#if TERNARY
  let d = code_unit(bb, u % QT_UNITS);
  for (var m = 0u; m < UV; m++) { out[o + m] = (f32(tq[m]) - 1.0) * d; }
#else
  decode_unit(bb, u % QT_UNITS);
  for (var m = 0u; m < UV; m++) { out[o + m] = wv[m]; }
#endif
#endif
#if F32
  out[dst + u] = bitcast<f32>(table[r * COLS + u]);
#endif
#if F16
  let w = table[r * UNITS + u];
  out[dst + 2u * u] = f16_lo(w);
  out[dst + 2u * u + 1u] = f16_hi(w);
#endif
#if BF16
  let w = table[r * UNITS + u];
  out[dst + 2u * u] = bf16_lo(w);
  out[dst + 2u * u + 1u] = bf16_hi(w);
#endif
}

fn zero_unit(u: u32, dst: u32) {
#if QUANT
  for (var m = 0u; m < 32u; m++) { out[dst + u * 32u + m] = 0.0; }
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
