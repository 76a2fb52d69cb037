// Decode attention (one query token) as split-K "flash decoding" over the f32 KV cache.
//
// Pass 1 (default): workgroup (split s, kv head h) handles the G query heads that share kv head h
// (GQA: query head qh uses kv head qh / G) over one chunk of positions. The kv_len valid positions
// are cut into n = clamp(ceil(kv_len / MIN_CHUNK), 1, NSPLIT) chunks, so short contexts use few
// workgroups and long ones at most NSPLIT per kv head; the dispatch is always NSPLIT wide and the
// rest exit. Per chunk it keeps an online softmax (running max m, sum l) and writes the
// unnormalised output with m and l: part[(qh * NSPLIT + s) * (HD + 2)] = acc[HD], m, l.
// Tiles of TILE positions: (1) thread = position: scores for all G heads; (2) thread = position:
// tile max per head, probabilities; (3) thread = output element (head, dim): acc += p · V.
//
// Note: a function-scope `var` declared in a loop body must be zeroed on every iteration, but
// SwiftShader's compiled code kept the previous iteration's array; arrays are zeroed explicitly.
//
// Pass 2 (COMBINE): workgroup per query head merges the n partials with max/sum rescaling.
// SINGLE: pass 1 alone when one chunk covers every position (n = 1): it normalises its own output
// into the output buffer (at binding 4) exactly as the combine would (exp(m − m) = 1), saving a
// dispatch per layer at short contexts.
// Cache layout [NKV][MAXCTX][HD]; kv_len (from the step params) positions are valid.
// ROWS (a batched decode step, src/runtime/batch-decode.ts): workgroup z = row r of q and of the
// output, the query of a sequence at position rows[r].x, which reads slot rows[r].y of the caches
// (slot s starts s·SLOT_K elements into kc, s·SLOT_V into vc) with kv_len = rows[r].x + 1, and
// owns partials block r. Every row's arithmetic is the one-token path's.
#include "step"

const HD: u32 = {{HD}}u;
const HD4: u32 = HD / 4u;
const G: u32 = {{G}}u;
const NH: u32 = {{NH}}u;              // query heads (a row of q and of the output)
const NSPLIT: u32 = {{NSPLIT}}u;
const MIN_CHUNK: u32 = {{MIN_CHUNK}}u;
const MAXCTX: u32 = {{MAXCTX}}u;
const TILE: u32 = 64u;
const PSTRIDE: u32 = HD + 2u;
const NEG_BIG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> step: StepParams;

#include "decode_row"

#if COMBINE
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // [rows][NH][HD]: row step.row
#if ROWS
@group(0) @binding(3) var<storage, read> rows: array<vec2<u32>>;  // [rows]: (position, slot)
#endif

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let qh = wid.x;
  let r = decode_row(wid.y);
  let row = r.row;
  let n = active_splits(r.kv_len);
  let base = r.parts + qh * NSPLIT * PSTRIDE;
  var mx = NEG_BIG;
  for (var s = 0u; s < n; s++) { mx = max(mx, part[base + s * PSTRIDE + HD]); }
  var den = 0.0;
  for (var s = 0u; s < n; s++) {
    den += exp(part[base + s * PSTRIDE + HD] - mx) * part[base + s * PSTRIDE + HD + 1u];
  }
  let inv = select(0.0, 1.0 / den, den > 0.0);
  for (var d = lid; d < HD; d += 64u) {
    var o = 0.0;
    for (var s = 0u; s < n; s++) {
      o += exp(part[base + s * PSTRIDE + HD] - mx) * part[base + s * PSTRIDE + d];
    }
    out[row * NH * HD + qh * HD + d] = o * inv;
  }
}
#else
const OPT: u32 = (G * HD + TILE - 1u) / TILE;   // output elements per thread in phase 3
override SCALE: f32;

@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;     // [rows][NH][HD]: row step.row
@group(0) @binding(2) var<storage, read> kc: array<vec4<f32>>;    // [NKV][MAXCTX][HD]
@group(0) @binding(3) var<storage, read> vc: array<f32>;          // [NKV][MAXCTX][HD]
@group(0) @binding(4) var<storage, read_write> part: array<f32>;  // [NH][NSPLIT][HD + 2] (ROWS: per row); SINGLE: the output, [rows][NH][HD]
#if ROWS
@group(0) @binding(5) var<storage, read> rows: array<vec2<u32>>;  // [rows]: (position, slot)
#endif

var<workgroup> sc: array<f32, G * TILE>;
var<workgroup> pr: array<f32, G * TILE>;
#if SINGLE
var<workgroup> lsum: array<f32, G>;
#endif

@compute @workgroup_size(TILE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let s = wid.x;
  let h = wid.y;
  let r = decode_row(wid.z);
  let row = r.row;
  let kv_len = r.kv_len;
  let k_slot = r.k4;
  let v_slot = r.v;
  let part_base = r.parts;
  let n = active_splits(kv_len);
  if (s >= n) { return; }
  let chunk = (kv_len + n - 1u) / n;
  let start = min(s * chunk, kv_len);
  let end = min(start + chunk, kv_len);
  // Query heads h*G … h*G+G-1 are contiguous in q (read straight from global memory: it is tiny
  // and every thread reads the same words).
  let qb = (row * NH + h * G) * HD4;

  var m: array<f32, G>;
  var alpha: array<f32, G>;
  for (var j = 0u; j < G; j++) { m[j] = NEG_BIG; }
  var l = 0.0;                      // running sum for head `lid` (threads lid < G)
  var acc: array<f32, OPT>;
  let kv_base = h * MAXCTX;

  for (var t0 = start; t0 < end; t0 += TILE) {
    let p = t0 + lid;
    let live = p < end;
    var dots: array<vec4<f32>, G>;
    for (var j = 0u; j < G; j++) { dots[j] = vec4<f32>(0.0); }   // explicit: see note at the top
    if (live) {
      let kb = k_slot + (kv_base + p) * HD4;
      for (var e = 0u; e < HD4; e++) {
        let k4 = kc[kb + e];
        for (var j = 0u; j < G; j++) { dots[j] += q[qb + j * HD4 + e] * k4; }
      }
    }
    for (var j = 0u; j < G; j++) {
      let d4 = dots[j];
      sc[j * TILE + lid] = select(NEG_BIG, (d4.x + d4.y + d4.z + d4.w) * SCALE, live);
    }
    workgroupBarrier();
    for (var j = 0u; j < G; j++) {
      var tm = NEG_BIG;
      for (var i = 0u; i < TILE; i++) { tm = max(tm, sc[j * TILE + i]); }
      let nm = max(m[j], tm);
      alpha[j] = exp(m[j] - nm);
      m[j] = nm;
      pr[j * TILE + lid] = select(0.0, exp(sc[j * TILE + lid] - nm), live);
    }
    workgroupBarrier();
    let n_here = min(TILE, end - t0);
    for (var o = 0u; o < OPT; o++) {
      let oi = lid + o * TILE;
      if (oi < G * HD) {
        let j = oi / HD;
        let d = oi % HD;
        var a = acc[o] * alpha[j];
        for (var i = 0u; i < n_here; i++) { a += pr[j * TILE + i] * vc[v_slot + (kv_base + t0 + i) * HD + d]; }
        acc[o] = a;
      }
    }
    if (lid < G) {
      var ls = 0.0;
      for (var i = 0u; i < n_here; i++) { ls += pr[lid * TILE + i]; }
      l = l * alpha[lid] + ls;
    }
  }

#if SINGLE
  if (lid < G) { lsum[lid] = l; }
  workgroupBarrier();
  for (var o = 0u; o < OPT; o++) {
    let oi = lid + o * TILE;
    if (oi < G * HD) {
      let den = lsum[oi / HD];
      part[(row * NH + h * G) * HD + oi] = acc[o] * select(0.0, 1.0 / den, den > 0.0);
    }
  }
#else
  for (var o = 0u; o < OPT; o++) {
    let oi = lid + o * TILE;
    if (oi < G * HD) {
      part[part_base + ((h * G + oi / HD) * NSPLIT + s) * PSTRIDE + oi % HD] = acc[o];
    }
  }
  if (lid < G) {
    let rec = part_base + ((h * G + lid) * NSPLIT + s) * PSTRIDE;
    part[rec + HD] = m[lid];
    part[rec + HD + 1u] = l;
  }
#endif
}
#endif
