// The int8 activation block of common/q8_quant.wgsl stored at block b of XQO: shared by the
// activation quantizer (quantize_q8.wgsl) and the int8 mat-vec's quantizing store (QOUT). The
// includer declares XQO: array<vec4<u32>> (read_write).
#include "q8_quant"

// Quantizes x0…x7 (the block's 32 values in order) into block b of XQO.
fn q8_store(b: u32, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>, x4: vec4<f32>, x5: vec4<f32>, x6: vec4<f32>, x7: vec4<f32>, ss: f32) {
  let q = q8_words(x0, x1, x2, x3, x4, x5, x6, x7, ss);
  let o = XQ_WORDS * b;
  XQO[o] = q.w0;
  XQO[o + 1u] = q.w1;
  XQO[o + 2u] = q.ds;
  XQO[o + 3u] = q.e0;
  XQO[o + 4u] = q.e1;
  XQO[o + 5u] = q.o0;
  XQO[o + 6u] = q.o1;
}
