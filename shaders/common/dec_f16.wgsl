// F16 without shader-f16: halves converted with half2 (bytes.wgsl). Blocks of {{FB}} values; with 8
// or more they are read as 16-byte words (rows of a multiple of 8 halves are 16-byte aligned).
#include "dq"
const QK: u32 = {{FB}}u;
const QB: u32 = {{FB}}u * 2u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode_q(bo: u32, c: u32) -> Dq {
  var r: Dq;
  r.a = vec4<f32>(1.0);
#if USES_W4
#for I in 0..{{CW / 2}}
  let u{{I}} = W4[(bo >> 4u) + {{I}}u];
  r.v{{I * 2}} = vec4<f32>(half2(u{{I}}.x), half2(u{{I}}.y));
  r.v{{I * 2 + 1}} = vec4<f32>(half2(u{{I}}.z), half2(u{{I}}.w));
#endfor
#else
  r.v0 = vec4<f32>(half2(W[bo >> 2u]), half2(W[(bo >> 2u) + 1u]));
#endif
  return r;
}
