// Causal attention for a block of n_tokens query tokens at positions pos0 + t over the f32 KV
// cache (which already holds this block's K/V rows), with GQA: one thread per (token, query head)
// row, holding the row's query and output in registers and reading each key and value row straight
// from the cache. No workgroup memory and no barriers: where invocations are SIMD lanes of a CPU
// (software adapters), a barrier switches every lane group of the workgroup and staged rows are
// read lane by lane, so the tiled kernel (attention_prefill.wgsl) spends its time there. Keys go
// KB at a time through the online softmax, so the running maximum is rescaled once per KB keys.
#include "step"

const HD4: u32 = {{HD}}u / 4u;
const G: u32 = {{G}}u;
const NH: u32 = {{NH}}u;
const MAXCTX: u32 = {{MAXCTX}}u;
const WG: u32 = {{WG}}u;
const NEG_BIG: f32 = -3.0e38;
override SCALE: f32;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;         // [T][NH][HD]
@group(0) @binding(2) var<storage, read> kc: array<vec4<f32>>;        // [NKV][MAXCTX][HD]
@group(0) @binding(3) var<storage, read> vc: array<vec4<f32>>;        // [NKV][MAXCTX][HD]
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>; // [T][NH][HD]

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  // Rows sharing kv head h = gid.y are numbered token-major, flat = t * G + j.
  let h = gid.y;
  let flat = gid.x;
  if (flat >= step.n_tokens * G) { return; }
  let t = flat / G;
  let j = flat % G;
  let kv_end = min(min(step.pos0 + t + 1u, step.kv_len), MAXCTX);
  let qo = (t * NH + h * G + j) * HD4;
#for E in 0..{{HD4}}
  let qr{{E}} = q[qo + {{E}}u];
  var acc{{E}} = vec4<f32>(0.0);
#endfor
  var m = NEG_BIG;
  var l = 0.0;
  let base = h * MAXCTX * HD4;
  for (var k0 = 0u; k0 < kv_end; k0 += {{KB}}u) {
#for K in 0..{{KB}}
    let ok{{K}} = k0 + {{K}}u < kv_end;
    let kb{{K}} = base + min(k0 + {{K}}u, kv_end - 1u) * HD4;
    var d{{K}} = vec4<f32>(0.0);
#for E in 0..{{HD4}}
    d{{K}} += qr{{E}} * kc[kb{{K}} + {{E}}u];
#endfor
    let s{{K}} = select(NEG_BIG, (d{{K}}.x + d{{K}}.y + d{{K}}.z + d{{K}}.w) * SCALE, ok{{K}});
#endfor
    var tm = s0;
#for K in 1..{{KB}}
    tm = max(tm, s{{K}});
#endfor
    let nm = max(m, tm);
    let alpha = exp(m - nm);
    m = nm;
    l *= alpha;
#for E in 0..{{HD4}}
    acc{{E}} *= alpha;
#endfor
#for K in 0..{{KB}}
    let p{{K}} = select(0.0, exp(s{{K}} - nm), ok{{K}});
    l += p{{K}};
#for E in 0..{{HD4}}
    acc{{E}} += p{{K}} * vc[kb{{K}} + {{E}}u];
#endfor
#endfor
  }
  let inv = 1.0 / l;
#for E in 0..{{HD4}}
  out[qo + {{E}}u] = acc{{E}} * inv;
#endfor
}
