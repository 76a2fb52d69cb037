// F16 without shader-f16: halves unpacked with unpack2x16float. Blocks of {{FB}} values; with 8
// or more they are read as 16-byte words (rows of a multiple of 8 halves are 16-byte aligned).
#include "dq"
const QK: u32 = {{FB}}u;
const QB: u32 = {{FB}}u * 2u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn decode(bo: u32, c: u32) -> Dq {
  var r: Dq;
#if USES_W4
#for I in 0..{{CW / 2}}
  let u{{I}} = W4[(bo >> 4u) + {{I}}u];
  r.v{{I * 2}} = vec4<f32>(unpack2x16float(u{{I}}.x), unpack2x16float(u{{I}}.y));
  r.v{{I * 2 + 1}} = vec4<f32>(unpack2x16float(u{{I}}.z), unpack2x16float(u{{I}}.w));
#endfor
#else
  r.v0 = vec4<f32>(unpack2x16float(W[bo >> 2u]), unpack2x16float(W[(bo >> 2u) + 1u]));
#endif
  return r;
}
