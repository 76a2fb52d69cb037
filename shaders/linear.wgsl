// y = W·x for one token (mat-vec) or Y = X·Wᵀ for up to MAXT tokens (mat-mul), with W still
// quantized: each thread decodes 32-weight units of a row into registers (quant_decode.wgsl) and
// reuses them for TT tokens. Rows of a part go RPW to a workgroup, TPR threads per row, reduced
// through workgroup memory. Ternary types take the add-only path: codes select +x, −x or nothing
// and the only multiply is the unit's scale d (and I2_S's per-tensor scale, once per output).
//
// Bindings: 0 step params (MAXT > 1), 1 W part (u32 words), 2 X [T][COLS], 3 Y [T][ROWS_TOTAL],
// 4 per-tensor scale (I2_S).
#include "step"

@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
#if I2S_SCALE
@group(0) @binding(4) var<storage, read> TSCALE: array<f32>;
#endif
#if USE_PARAMS
@group(0) @binding(0) var<uniform> params: StepParams;
#endif

fn w_word(i: u32) -> u32 { return W[i]; }

#include "quant_decode"

#if QT_F32
const QT_VALUES = {{F32_VALUES}}u; const QT_BYTES = {{F32_BYTES}}u; const QT_UNITS = 1u;
fn decode_unit(bb: u32, u: u32) {
  for (var m = 0u; m < QT_VALUES; m++) { wv[m] = bitcast<f32>(W[(bb >> 2u) + m]); }
}
#endif
#if QT_F16
const QT_VALUES = 2u; const QT_BYTES = 4u; const QT_UNITS = 1u;
fn decode_unit(bb: u32, u: u32) { let v = unpack2x16float(W[bb >> 2u]); wv[0] = v.x; wv[1] = v.y; }
#endif
#if QT_BF16
const QT_VALUES = 2u; const QT_BYTES = 4u; const QT_UNITS = 1u;
fn decode_unit(bb: u32, u: u32) { let w = W[bb >> 2u]; wv[0] = bitcast<f32>(w << 16u); wv[1] = bitcast<f32>(w & 0xffff0000u); }
#endif

const COLS = {{COLS}}u;
const ROWS_TOTAL = {{ROWS_TOTAL}}u;
const TPR = {{TPR}}u;
const RPW = {{RPW}}u;
const TT = {{TT}}u;
const UV = QT_VALUES / QT_UNITS;
const UNITS_PER_ROW = COLS / UV;
const ROW_BYTES = (COLS / QT_VALUES) * QT_BYTES;

override ROW_START: u32 = 0u;
override PART_ROWS: u32 = 1u;

#if !SERIAL
var<workgroup> red: array<f32, {{WGSIZE}}>;
#endif

@compute @workgroup_size({{TPR}}, {{RPW}})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.x + wid.y * nwg.x) * RPW + lid.y;
  let t0 = wid.z * TT;
#if USE_PARAMS
  let nT = params.n_tokens;
#else
  let nT = 1u;
#endif
  let valid = row < PART_ROWS;
  var acc: array<f32, {{TT}}>;
  if (valid && t0 < nT) {
    let rowByte = row * ROW_BYTES;
    for (var un = lid.x; un < UNITS_PER_ROW; un += TPR) {
      let blk = un / QT_UNITS;
      let u = un % QT_UNITS;
      let bb = rowByte + blk * QT_BYTES;
      let xcol = blk * QT_VALUES + u * UV;
#if TERNARY
      let d = code_unit(bb, u);
      for (var t = 0u; t < TT; t++) {
        if (t0 + t < nT) {
          let xb = (t0 + t) * COLS + xcol;
          var s = 0.0;
          for (var m = 0u; m < 32u; m++) {
            let c = tq[m];
            let xv = X[xb + m];
            s += select(select(0.0, -xv, c == 0u), xv, c == 2u);
          }
          acc[t] += d * s;
        }
      }
#else
      decode_unit(bb, u);
      for (var t = 0u; t < TT; t++) {
        if (t0 + t < nT) {
          let xb = (t0 + t) * COLS + xcol;
          var s = 0.0;
          for (var m = 0u; m < UV; m++) { s += wv[m] * X[xb + m]; }
          acc[t] += s;
        }
      }
#endif
    }
  }
#if SERIAL
  // One thread per row: no reduction, no barrier (software devices pay dearly for barriers).
  for (var t = 0u; t < TT; t++) {
    if (valid && t0 + t < nT) {
#if I2S_SCALE
      Y[(t0 + t) * ROWS_TOTAL + ROW_START + row] = acc[t] * TSCALE[0];
#else
      Y[(t0 + t) * ROWS_TOTAL + ROW_START + row] = acc[t];
#endif
    }
  }
#else
  let slot = lid.y * TPR + lid.x;
  for (var t = 0u; t < TT; t++) {
    red[slot] = acc[t];
    workgroupBarrier();
    for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
      if (lid.x < stride) { red[slot] += red[slot + stride]; }
      workgroupBarrier();
    }
    if (lid.x == 0u && valid && t0 + t < nT) {
#if I2S_SCALE
      Y[(t0 + t) * ROWS_TOTAL + ROW_START + row] = red[slot] * TSCALE[0];
#else
      Y[(t0 + t) * ROWS_TOTAL + ROW_START + row] = red[slot];
#endif
    }
    workgroupBarrier();
  }
#endif
}
