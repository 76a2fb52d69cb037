// Samples the next token from one row of logits in a single workgroup, exactly (no fixed
// candidate cap). Order as llama.cpp's default chain: top-k → top-p → min-p → temperature → draw,
// where top-k/top-p/min-p act on the untempered distribution. Every filter is a threshold on the
// logit, kept as an order-preserving u32 key (f32_key); the survivors are {i : key_i >= tau}.
// Tokens tied with the threshold logit are all kept.
//
//  1. max logit m (and the argmax, which is the answer when temperature <= 0)
//  2. top-k: tau_k = key of the k-th largest logit, by radix select — four passes of 8-bit digits
//     from the top, each counting keys per digit bin in a 256-bin workgroup histogram.
//  3. min-p: tau_min = key(m + ln(min_p))   (p_i >= min_p · p_max)
//  4. top-p over the top-k survivors, renormalised: goal = top_p · Σ_{key>=tau_k} e_i with
//     e_i = exp(z_i - m); tau_p = the largest key x with Σ_{key>=x} e_i >= goal (the nucleus
//     including the token that crosses top_p). Only keys >= tau_lo = max(tau_k, tau_min) can
//     matter (below it min-p cuts anyway). If those are at most CAP tokens they are gathered into
//     workgroup memory and each candidate's "mass at or above me" is summed directly (O(C²/WG));
//     otherwise tau_p is built bit by bit from the top, one pass over the vocabulary per bit (32).
//  5. tau = max of the above; weights w_i = exp((z_i - m) / temperature) for key_i >= tau. Each
//     thread owns a contiguous chunk of the vocabulary; chunk sums are prefix-summed, and draw d
//     (u = uniform01(seed, kv_len, d)) finds its chunk by binary search and its token by a scan.
// out[d] gets draw d's token id; with HISTORY, draw 0 also goes to history[kv_len].
#include "reduce"
#include "step"
#include "sampling"

const N: u32 = {{N}}u;
const DRAWS: u32 = {{DRAWS}}u;
const CAP: u32 = {{CAP}}u;
const CS: u32 = (N + WG - 1u) / WG;

@group(0) @binding(0) var<uniform> step: StepParams;
@group(0) @binding(1) var<uniform> sp: SamplingParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
#if HISTORY
@group(0) @binding(4) var<storage, read_write> history: array<u32>;
#endif

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> radix_state: vec2<u32>;
var<workgroup> bcast_f32: f32;
var<workgroup> chunk_sum: array<f32, WG>;
var<workgroup> cand_key: array<u32, CAP>;
var<workgroup> cand_e: array<f32, CAP>;
var<workgroup> cand_n: atomic<u32>;

fn logit(i: u32) -> f32 { return finite_logit(logits[i]); }

// A value every invocation holds (e.g. a reduction result) made provably uniform, so control flow
// that contains barriers may depend on it.
fn uniform_f32(x: f32, lid: u32) -> f32 {
  workgroupBarrier();   // everyone has read the previous broadcast
  if (lid == 0u) { bcast_f32 = x; }
  return workgroupUniformLoad(&bcast_f32);
}

fn emit(d: u32, id: u32) {
  out[d] = id;
#if HISTORY
  if (d == 0u && step.kv_len < arrayLength(&history)) { history[step.kv_len] = id; }
#endif
}

@compute @workgroup_size(WG)
fn main(inv: Inv) {
  let lid = inv.lid;

  // 1. max / argmax
  var best = ArgMax(-3.0e38, 0xffffffffu);
  for (var i = lid; i < N; i += WG) { best = better(best, ArgMax(logit(i), i)); }
  let top = wg_argmax(best, inv);
  let m = top.v;
  let key_max = f32_key(m);
  if (sp.temperature <= 0.0) {
    for (var d = lid; d < DRAWS; d += WG) { emit(d, top.i); }
    return;
  }

  // 2. top-k
  var tau_k = 0u;
  if (sp.top_k > 0u && sp.top_k < N) {
    var prefix = 0u;
    var remaining = sp.top_k;
    for (var digit = 0u; digit < 4u; digit++) {
      let shift = 24u - 8u * digit;
      // Bits above the current digit, which must equal the prefix chosen so far.
      let high = select(0u, 0xffffffffu << (shift + 8u), digit > 0u);
      for (var b = lid; b < 256u; b += WG) { atomicStore(&hist[b], 0u); }
      workgroupBarrier();
      for (var i = lid; i < N; i += WG) {
        let k = f32_key(logit(i));
        if ((k & high) == prefix) { atomicAdd(&hist[(k >> shift) & 255u], 1u); }
      }
      workgroupBarrier();
      if (lid == 0u) {
        // Walk bins from the top until the k-th largest (counting `remaining`) falls in one.
        var above = 0u;
        var b = 255u;
        loop {
          let c = atomicLoad(&hist[b]);
          if (above + c >= remaining || b == 0u) { break; }
          above += c;
          b -= 1u;
        }
        radix_state = vec2<u32>(prefix | (b << shift), remaining - above);
      }
      let st = workgroupUniformLoad(&radix_state);
      prefix = st.x;
      remaining = st.y;
    }
    tau_k = prefix;
  }

  // 3. min-p
  var tau_min = 0u;
  if (sp.min_p > 0.0) { tau_min = min(f32_key(m + log(sp.min_p)), key_max); }
  let tau_lo = max(tau_k, tau_min);

  // 4. top-p
  var tau_p = 0u;
  if (sp.top_p < 1.0) {
    var s_k = 0.0;
    var s_lo = 0.0;
    var c_lo = 0.0;
    for (var i = lid; i < N; i += WG) {
      let z = logit(i);
      let k = f32_key(z);
      if (k >= tau_k) {
        let e = exp(z - m);
        s_k += e;
        if (k >= tau_lo) {
          s_lo += e;
          c_lo += 1.0;
        }
      }
    }
    let goal = uniform_f32(sp.top_p * wg_sum(s_k, inv), lid);
    let mass_lo = uniform_f32(wg_sum(s_lo, inv), lid);
    let count_lo = uniform_f32(wg_sum(c_lo, inv), lid);
    // mass_lo < goal: the nucleus reaches below tau_lo, which min-p/top-k already cut at.
    if (mass_lo >= goal) {
      if (count_lo <= f32(CAP)) {
        for (var i = lid; i < N; i += WG) {
          let z = logit(i);
          let k = f32_key(z);
          if (k >= tau_lo) {
            let slot = atomicAdd(&cand_n, 1u);
            if (slot < CAP) {
              cand_key[slot] = k;
              cand_e[slot] = exp(z - m);
            }
          }
        }
        workgroupBarrier();
        let c = min(atomicLoad(&cand_n), CAP);
        var best_key = 0u;
        for (var a = lid; a < c; a += WG) {
          let ka = cand_key[a];
          var mass = 0.0;
          for (var b = 0u; b < c; b++) {
            if (cand_key[b] >= ka) { mass += cand_e[b]; }
          }
          if (mass >= goal) { best_key = max(best_key, ka); }
        }
        tau_p = wg_max_u32(best_key, inv);
      } else {
        var x = 0u;
        for (var bit = 0u; bit < 32u; bit++) {
          let y = x | (0x80000000u >> bit);
          var mass = 0.0;
          for (var i = lid; i < N; i += WG) {
            let z = logit(i);
            let k = f32_key(z);
            if (k >= y && k >= tau_k) { mass += exp(z - m); }
          }
          let total = wg_sum(mass, inv);
          if (total >= goal) { x = y; }
        }
        tau_p = x;
      }
    }
  }

  // 5. temperature and the draws
  let tau = min(max(tau_lo, tau_p), key_max);
  let inv_t = 1.0 / sp.temperature;
  let c0 = min(lid * CS, N);
  let c1 = min(c0 + CS, N);
  var s = 0.0;
  for (var i = c0; i < c1; i++) {
    let z = logit(i);
    if (f32_key(z) >= tau) { s += exp((z - m) * inv_t); }
  }
  chunk_sum[lid] = s;
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0.0;
    for (var c = 0u; c < WG; c++) {
      acc += chunk_sum[c];
      chunk_sum[c] = acc;   // inclusive prefix
    }
  }
  workgroupBarrier();
  let total = chunk_sum[WG - 1u];
  for (var d = lid; d < DRAWS; d += WG) {
    let goal = uniform01(sp.seed, step.kv_len, d) * total;
    // First chunk whose inclusive prefix exceeds the goal: it has positive weight.
    var lo = 0u;
    var hi = WG - 1u;
    while (lo < hi) {
      let mid = (lo + hi) / 2u;
      if (chunk_sum[mid] > goal) { hi = mid; } else { lo = mid + 1u; }
    }
    // Rounding can leave no prefix above the goal: fall back to the last chunk with weight.
    while (lo > 0u && chunk_sum[lo] == chunk_sum[lo - 1u]) { lo -= 1u; }
    var cum = select(0.0, chunk_sum[max(lo, 1u) - 1u], lo > 0u);
    var pick = 0xffffffffu;
    var last = top.i;
    let s0 = min(lo * CS, N);
    let s1 = min(s0 + CS, N);
    for (var i = s0; i < s1; i++) {
      let z = logit(i);
      if (f32_key(z) >= tau) {
        last = i;
        cum += exp((z - m) * inv_t);
        if (cum > goal) {
          pick = i;
          break;
        }
      }
    }
    emit(d, select(pick, last, pick == 0xffffffffu));
  }
}
