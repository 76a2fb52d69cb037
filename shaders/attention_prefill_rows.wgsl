// Causal attention for a block of n_tokens query tokens at positions pos0 + t over the f32 KV
// cache (which already holds this block's K/V rows), with GQA: one thread per (token, query head)
// row, holding the row's query and output in registers and reading each key and value row straight
// from the cache. No workgroup memory and no barriers: where invocations are SIMD lanes of a CPU
// (software adapters), a barrier switches every lane group of the workgroup and staged rows are
// read lane by lane, so the tiled kernel (attention_prefill.wgsl) spends its time there. Keys go
// KB at a time through the online softmax, so the running maximum is rescaled once per KB keys.
// With SHARE_KV (a fixed subgroup size SG dividing HD4) the lanes of a subgroup, which hold rows
// of the same kv head, read each key and value row once between them, every SG-th vec4 each,
// and pass them round with subgroupBroadcast: a lane's load is a separate gather on a software
// adapter. They then loop to the subgroup's last key, the keys past a row's own end masked as
// before (each row's arithmetic is unchanged), and rows past the step recompute the last row.
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

#if SHARE_KV
const SG: u32 = {{SG}}u;
#endif

@compute @workgroup_size(WG)
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
#if SHARE_KV
  @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
  // Rows sharing kv head h = gid.y are numbered token-major, flat = t * G + j.
  let h = gid.y;
#if SHARE_KV
  let live = gid.x < step.n_tokens * G;
  let flat = min(gid.x, step.n_tokens * G - 1u);
#else
  let flat = gid.x;
  if (flat >= step.n_tokens * G) { return; }
#endif
  let t = flat / G;
  let j = flat % G;
  let kv_end = min(min(step.pos0 + t + 1u, step.kv_len), MAXCTX);
#if SHARE_KV
  let kv_stop = subgroupMax(kv_end);
#else
  let kv_stop = kv_end;
#endif
  let qo = (t * NH + h * G + j) * HD4;
#for E in 0..{{HD4}}
  let qr{{E}} = q[qo + {{E}}u];
  var acc{{E}} = vec4<f32>(0.0);
#endfor
  var m = NEG_BIG;
  var l = 0.0;
  let base = h * MAXCTX * HD4;
  for (var k0 = 0u; k0 < kv_stop; k0 += {{KB}}u) {
#for K in 0..{{KB}}
    let ok{{K}} = k0 + {{K}}u < kv_end;
    let kb{{K}} = base + min(k0 + {{K}}u, kv_stop - 1u) * HD4;
    var d{{K}} = vec4<f32>(0.0);
#if SHARE_KV
#for J in 0..{{HD4_SG}}
    let kl{{K}}_{{J}} = kc[kb{{K}} + lane + {{J * SG}}u];
#endfor
#for E in 0..{{HD4}}
    d{{K}} += qr{{E}} * subgroupBroadcast(kl{{K}}_{{E / SG}}, {{E % SG}}u);
#endfor
#else
#for E in 0..{{HD4}}
    d{{K}} += qr{{E}} * kc[kb{{K}} + {{E}}u];
#endfor
#endif
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
#if SHARE_KV
#for J in 0..{{HD4_SG}}
    let vl{{K}}_{{J}} = vc[kb{{K}} + lane + {{J * SG}}u];
#endfor
#for E in 0..{{HD4}}
    acc{{E}} += p{{K}} * subgroupBroadcast(vl{{K}}_{{E / SG}}, {{E % SG}}u);
#endfor
#else
#for E in 0..{{HD4}}
    acc{{E}} += p{{K}} * vc[kb{{K}} + {{E}}u];
#endfor
#endif
#endfor
  }
#if SHARE_KV
  if (!live) { return; }
#endif
  let inv = 1.0 / l;
#for E in 0..{{HD4}}
  out[qo + {{E}}u] = acc{{E}} * inv;
#endfor
}
