// F32: a "block" is {{FB}} consecutive floats (the largest of 32/16/8/4 dividing the row), one
// chunk, read as 16-byte words (rows of a multiple of 4 floats are 16-byte aligned).
#include "dq"
const QK: u32 = {{FB}}u;
const QB: u32 = {{FB}}u * 4u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  var r: Dq;
  r.a = vec4<f32>(1.0);
#for I in 0..{{CW}}
  r.v{{I}} = bitcast<vec4<f32>>(W4[(bo >> 4u) + {{I}}u]);
#endfor
  return r;
}
