// BF16: the top 16 bits of an f32. Read like F16.
#include "dq"
const QK: u32 = {{FB}}u;
const QB: u32 = {{FB}}u * 2u;
const NCH: u32 = 1u;
fn chunk_x(c: u32, i: u32) -> u32 { return 4u * i; }
fn bf16x2(w: u32) -> vec2<f32> { return bitcast<vec2<f32>>(vec2<u32>(w << 16u, w & 0xffff0000u)); }
fn decode_q(bo: u32, c: u32) -> Dq {
  var r: Dq;
  r.a = vec4<f32>(1.0);
#if USES_W4
#for I in 0..{{CW / 2}}
  let u{{I}} = W4[(bo >> 4u) + {{I}}u];
  r.v{{I * 2}} = vec4<f32>(bf16x2(u{{I}}.x), bf16x2(u{{I}}.y));
  r.v{{I * 2 + 1}} = vec4<f32>(bf16x2(u{{I}}.z), bf16x2(u{{I}}.w));
#endfor
#else
  r.v0 = vec4<f32>(bf16x2(W[bo >> 2u]), bf16x2(W[(bo >> 2u) + 1u]));
#endif
  return r;
}
