// Rotary position embedding on Q and K, in place, for n_tokens tokens at positions pos0 + t.
// Pair i (i < HALF = rope_dim/2) rotates by angle pos * freq_i, with
//   normal (llama, GGML_ROPE_TYPE_NORMAL): elements (2i, 2i+1) of each head
//   NEOX  (GGML_ROPE_TYPE_NEOX):           elements (i, i + HALF)
// Dimensions from rope_dim to HD are left as they are.
// `turns[i]` = the fractional part of freq_i / 2π (freq_scale, base^(-2i/rope_dim) and any
// per-dimension factors folded in on the CPU in f64) in 0.64 fixed point: (hi word, lo word).
// KV: K is not rotated in place but written rotated into the cache, and V copied next to it:
// cache layout [kv_head][MAXCTX][HD], row `pos`.
// ROWS (with KV; a batched decode step, src/runtime/batch-decode.ts): token t is row t of q/k/v,
// the token of a sequence at position rows[t].x whose cache is slot rows[t].y of kc and vc (slot
// s starts s·SLOT_K elements into kc, s·SLOT_V into vc); every row's arithmetic is the one-token
// path's, so a row gets the bits its sequence would get alone.
#include "step"

const HD: u32 = {{HD}}u;
const HD2: u32 = HD / 2u;
const NQ: u32 = {{NQ}}u;
const NK: u32 = {{NK}}u;
const HALF: u32 = {{HALF}}u;
const MAXCTX: u32 = {{MAXCTX}}u;
const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<storage, read> turns: array<vec2<u32>>; // [HALF]
@group(0) @binding(2) var<storage, read_write> q: array<f32>;     // [T][NQ][HD]
#if KV
@group(0) @binding(3) var<storage, read> k: array<f32>;           // [T][NK][HD]
@group(0) @binding(4) var<storage, read> v: array<f32>;           // [T][NK][HD]
@group(0) @binding(5) var<storage, read_write> kc: array<f32>;    // [NK][MAXCTX][HD]
@group(0) @binding(6) var<storage, read_write> vc: array<f32>;    // [NK][MAXCTX][HD]
#if ROWS
@group(0) @binding(7) var<storage, read> rows: array<vec2<u32>>;  // [T]: (position, slot)
const SLOT_K: u32 = {{SLOT_K}}u;
const SLOT_V: u32 = {{SLOT_V}}u;
#endif
#else
@group(0) @binding(3) var<storage, read_write> k: array<f32>;     // [T][NK][HD]
#endif

fn pair(i: u32) -> vec2<u32> {
#if NEOX
  return vec2<u32>(i, i + HALF);
#else
  return vec2<u32>(2u * i, 2u * i + 1u);
#endif
}

// High 32 bits of the 64-bit product a·b.
fn mul_hi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let mid1 = a1 * b0;
  let mid2 = a0 * b1;
  let carry = (((a0 * b0) >> 16u) + (mid1 & 0xffffu) + (mid2 & 0xffffu)) >> 16u;
  return a1 * b1 + (mid1 >> 16u) + (mid2 >> 16u) + carry;
}

// cos and sin of 2π·pos·turns_i. Only the fraction of a turn matters, and it is computed exactly
// in 0.64 fixed point: (pos · turns_i) mod 1 = top 32 bits of pos · (hi·2^32 + lo) mod 2^64. So
// the angle stays exact at any position (a plain f32 product would lose ~1e-4 rad by position
// 1000). WGSL only promises 2^-11 absolute accuracy for sin/cos (SwiftShader delivers about
// that), so they are evaluated here: quadrant plus a remainder |x| ≤ π/4, where short Taylor
// series are accurate to f32 rounding.
fn cos_sin(pos: u32, i: u32) -> vec2<f32> {
  let tf = turns[i];
  let frac_bits = pos * tf.x + mul_hi(pos, tf.y);          // mod 2^32 by wrap-around
  let f = f32(bitcast<i32>(frac_bits)) * 2.3283064365386963e-10;  // [-0.5, 0.5)
  let quadrant = round(f * 4.0);    // -2 … 2
  let x = (f - quadrant * 0.25) * 6.283185307179586;
  let x2 = x * x;
  let s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))));
  let c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3628800.0)))));
  switch ((i32(quadrant) + 4) % 4) {
    case 1: { return vec2<f32>(-s, c); }
    case 2: { return vec2<f32>(-c, -s); }
    case 3: { return vec2<f32>(s, -c); }
    default: { return vec2<f32>(c, s); }
  }
}

fn rotate(x: vec2<f32>, cs: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(x.x * cs.x - x.y * cs.y, x.x * cs.y + x.y * cs.x);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
#if KV
  let per_token = NQ * HALF + 2u * NK * HD2;
#else
  let per_token = (NQ + NK) * HALF;
#endif
  let t = idx / per_token;
  if (t >= step.n_tokens) { return; }
#if ROWS
  let pos = rows[t].x;
  let row = t;
  let k_slot = rows[t].y * SLOT_K;
  let v_slot = rows[t].y * SLOT_V;
#else
  let pos = step.pos0 + t;
  let row = step.row + t;
  let k_slot = 0u;
  let v_slot = 0u;
#endif
  var r = idx % per_token;
  if (r < NQ * HALF) {
    let i = r % HALF;
    let base = (row * NQ + r / HALF) * HD;
    let p = pair(i) + base;
    let y = rotate(vec2<f32>(q[p.x], q[p.y]), cos_sin(pos, i));
    q[p.x] = y.x;
    q[p.y] = y.y;
    return;
  }
  r -= NQ * HALF;
#if KV
  if (pos >= MAXCTX) { return; }
  let head = (r % (NK * HD2)) / HD2;
  let i = r % HD2;
  let src = (row * NK + head) * HD;
  let dst = (head * MAXCTX + pos) * HD;
  if (r < NK * HD2) {
    if (i < HALF) {
      let p = pair(i);
      let y = rotate(vec2<f32>(k[src + p.x], k[src + p.y]), cos_sin(pos, i));
      kc[k_slot + dst + p.x] = y.x;
      kc[k_slot + dst + p.y] = y.y;
    } else {
      // Pairs at or past HALF cover dims 2i, 2i+1 >= rope_dim in both orderings: copied as they are.
      kc[k_slot + dst + 2u * i] = k[src + 2u * i];
      kc[k_slot + dst + 2u * i + 1u] = k[src + 2u * i + 1u];
    }
  } else {
    vc[v_slot + dst + 2u * i] = v[src + 2u * i];
    vc[v_slot + dst + 2u * i + 1u] = v[src + 2u * i + 1u];
  }
#else
  let i = r % HALF;
  let base = (row * NK + r / HALF) * HD;
  let p = pair(i) + base;
  let y = rotate(vec2<f32>(k[p.x], k[p.y]), cos_sin(pos, i));
  k[p.x] = y.x;
  k[p.y] = y.y;
#endif
}
