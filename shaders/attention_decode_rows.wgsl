// Decode attention with one thread per (query head, split) of a query row, WG query heads of a row
// and split per workgroup: attention_decode.wgsl's pass 1 (SINGLE or partials) without workgroup
// memory or barriers. Where invocations are SIMD lanes of a CPU (software adapters) a barrier
// switches every lane group of the workgroup and the tiled kernel's 64 threads mostly wait on a
// few live positions, so its workgroups cost about the same whatever they hold; here a row is a
// few lanes.
// Every row's arithmetic is the tiled kernel's, in its order, so the bits are the same: positions
// go through the online softmax TILE at a time (the tile's maximum, then exp(s − m) summed in
// position order), each score a vec4 dot product over the head dimension summed x + y + z + w
// and scaled, the output rescaled by exp(m_old − m_new) once per tile. The split-K chunks and
// partials are the tiled kernel's too (its combine pass merges them).
// One token (default): the query at row step.row of q and of the output, kv_len positions from
// the step params. ROWS (a batched decode step, src/runtime/batch-decode.ts): workgroup z = row r,
// the query of a sequence at position rows[r].x, which reads slot rows[r].y of the caches (slot
// s starts s·SLOT_K elements into kc, s·SLOT_V into vc) with kv_len = rows[r].x + 1, and owns
// partials block r.
#include "step"

const HD4: u32 = {{HD4}}u;
const HD: u32 = HD4 * 4u;
const G: u32 = {{G}}u;
const NH: u32 = {{NH}}u;
const NSPLIT: u32 = {{NSPLIT}}u;
const MIN_CHUNK: u32 = {{MIN_CHUNK}}u;
const MAXCTX: u32 = {{MAXCTX}}u;
const WG: u32 = {{WG}}u;
const TILE: u32 = 64u;
const PSTRIDE: u32 = HD + 2u;
const NEG_BIG: f32 = -3.0e38;
override SCALE: f32;

#include "decode_row"

#if ROWS
@group(0) @binding(0) var<storage, read> rows: array<vec2<u32>>;  // [rows]: (position, slot)
#else
@group(0) @binding(0) var<uniform> step: StepParams;
#endif
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;     // [rows][NH][HD]
@group(0) @binding(2) var<storage, read> kc: array<vec4<f32>>;    // slots of [NKV][MAXCTX][HD]
@group(0) @binding(3) var<storage, read> vc: array<vec4<f32>>;    // slots of [NKV][MAXCTX][HD]
// SINGLE: the output, [rows][NH][HD]; else the partials, per row [NH][NSPLIT][HD + 2].
@group(0) @binding(4) var<storage, read_write> part: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let qh = gid.x;
  let s = wid.y;
  if (qh >= NH) { return; }
  let h = qh / G;
  // ROWS: the rows dispatched are the step's.
  let r = decode_row(wid.z);
  let row = r.row;
  let kv_len = r.kv_len;
  let k_slot = r.k4;
  let v_slot = r.v / 4u; // vc is read as vec4 here
  let part_base = r.parts;
  let n = active_splits(kv_len);
  if (s >= n) { return; }
  let chunk = (kv_len + n - 1u) / n;
  let start = min(s * chunk, kv_len);
  let end = min(start + chunk, kv_len);
  let kb0 = k_slot + h * MAXCTX * HD4;
  let vb0 = v_slot + h * MAXCTX * HD4;
  let qo = (row * NH + qh) * HD4;
#for E in 0..{{HD4}}
  let q{{E}} = q[qo + {{E}}u];
  var acc{{E}} = vec4<f32>(0.0);
#endfor
  var m = NEG_BIG;
  var l = 0.0;
  var sc: array<f32, TILE>;
  for (var t0 = start; t0 < end; t0 += TILE) {
    let n_here = min(TILE, end - t0);
    // The tile's scores and their maximum (the tiled kernel's dead positions score NEG_BIG, which
    // leaves a maximum starting at NEG_BIG unchanged).
    var tm = NEG_BIG;
    for (var i = 0u; i < n_here; i++) {
      let kb = kb0 + (t0 + i) * HD4;
      var d = vec4<f32>(0.0);
#for E in 0..{{HD4}}
      d += q{{E}} * kc[kb + {{E}}u];
#endfor
      let score = (d.x + d.y + d.z + d.w) * SCALE;
      sc[i] = score;
      tm = max(tm, score);
    }
    let nm = max(m, tm);
    let alpha = exp(m - nm);
    m = nm;
#for E in 0..{{HD4}}
    acc{{E}} = acc{{E}} * alpha;
#endfor
    var ls = 0.0;
    for (var i = 0u; i < n_here; i++) {
      let p = exp(sc[i] - nm);
      ls += p;
      let vb = vb0 + (t0 + i) * HD4;
#for E in 0..{{HD4}}
      acc{{E}} += p * vc[vb + {{E}}u];
#endfor
    }
    l = l * alpha + ls;
  }
#if SINGLE
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let o = (row * NH + qh) * HD;
#for E in 0..{{HD4}}
  let r{{E}} = acc{{E}} * inv;
  part[o + {{E * 4}}u] = r{{E}}.x;
  part[o + {{E * 4 + 1}}u] = r{{E}}.y;
  part[o + {{E * 4 + 2}}u] = r{{E}}.z;
  part[o + {{E * 4 + 3}}u] = r{{E}}.w;
#endfor
#else
  let rec = part_base + (qh * NSPLIT + s) * PSTRIDE;
#for E in 0..{{HD4}}
  part[rec + {{E * 4}}u] = acc{{E}}.x;
  part[rec + {{E * 4 + 1}}u] = acc{{E}}.y;
  part[rec + {{E * 4 + 2}}u] = acc{{E}}.z;
  part[rec + {{E * 4 + 3}}u] = acc{{E}}.w;
#endfor
  part[rec + HD] = m;
  part[rec + HD + 1u] = l;
#endif
}
