// Workgroup-wide reductions shared by the ops kernels (norms, softmax, sampling).
// The includer sets {{WG}} (a power of two) and takes `inv: Inv` in its entry point, next to
// workgroup_id / num_workgroups as separate parameters (a struct holding local_invocation_index
// is non-uniform as a whole, so uniform builtins must stay outside it).
//
// With subgroups each subgroup reduces in registers and one value per subgroup goes through
// workgroup memory (one barrier instead of log2(WG)). Subgroup k is assumed to hold invocations
// [k*size, (k+1)*size) of local_invocation_index, which every current implementation does.
// Each function ends with a barrier so the scratch can be reused by the next call at once.

const WG: u32 = {{WG}}u;
// A finite stand-in for -infinity: exp(NEG_BIG - x) is 0 for any real x, and it survives max().
const NEG_BIG: f32 = -3.0e38;

struct Inv {
  @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
}

// Subgroups hold at least 4 invocations (WGSL), so WG/4 slots suffice on that path. Workgroup
// memory is zero-filled at every workgroup start (about 0.1 µs per word on SwiftShader), so it
// is kept no larger than needed.
#if SUBGROUPS
const RED_SLOTS: u32 = (WG + 3u) / 4u;
#else
const RED_SLOTS: u32 = WG;
#endif
var<workgroup> red_f32: array<f32, RED_SLOTS>;
var<workgroup> red_u32: array<u32, RED_SLOTS>;

// Linear workgroup index for a dispatch that may be folded into two dimensions (>65535 groups).
fn wg_linear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

fn wg_sum(x: f32, inv: Inv) -> f32 {
#if SUBGROUPS
  let s = subgroupAdd(x);
  if (inv.lane == 0u) { red_f32[inv.lid / inv.sg_size] = s; }
  workgroupBarrier();
  let nsg = (WG + inv.sg_size - 1u) / inv.sg_size;
  var t = 0.0;
  for (var i = 0u; i < nsg; i++) { t += red_f32[i]; }
  workgroupBarrier();
  return t;
#else
  red_f32[inv.lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (inv.lid < s) { red_f32[inv.lid] += red_f32[inv.lid + s]; }
    workgroupBarrier();
  }
  let t = red_f32[0];
  workgroupBarrier();
  return t;
#endif
}

fn wg_max(x: f32, inv: Inv) -> f32 {
#if SUBGROUPS
  let s = subgroupMax(x);
  if (inv.lane == 0u) { red_f32[inv.lid / inv.sg_size] = s; }
  workgroupBarrier();
  let nsg = (WG + inv.sg_size - 1u) / inv.sg_size;
  var t = red_f32[0];
  for (var i = 1u; i < nsg; i++) { t = max(t, red_f32[i]); }
  workgroupBarrier();
  return t;
#else
  red_f32[inv.lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (inv.lid < s) { red_f32[inv.lid] = max(red_f32[inv.lid], red_f32[inv.lid + s]); }
    workgroupBarrier();
  }
  let t = red_f32[0];
  workgroupBarrier();
  return t;
#endif
}

fn wg_max_u32(x: u32, inv: Inv) -> u32 {
#if SUBGROUPS
  let s = subgroupMax(x);
  if (inv.lane == 0u) { red_u32[inv.lid / inv.sg_size] = s; }
  workgroupBarrier();
  let nsg = (WG + inv.sg_size - 1u) / inv.sg_size;
  var t = red_u32[0];
  for (var i = 1u; i < nsg; i++) { t = max(t, red_u32[i]); }
  workgroupBarrier();
  return t;
#else
  red_u32[inv.lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (inv.lid < s) { red_u32[inv.lid] = max(red_u32[inv.lid], red_u32[inv.lid + s]); }
    workgroupBarrier();
  }
  let t = red_u32[0];
  workgroupBarrier();
  return t;
#endif
}

struct ArgMax { v: f32, i: u32 }

// Largest value; among equal values the lowest index (as std::max_element). Callers map NaN away.
fn better(a: ArgMax, b: ArgMax) -> ArgMax {
  if (b.v > a.v || (b.v == a.v && b.i < a.i)) { return b; }
  return a;
}

fn wg_argmax(x: ArgMax, inv: Inv) -> ArgMax {
#if SUBGROUPS
  let m = subgroupMax(x.v);
  let i = subgroupMin(select(0xffffffffu, x.i, x.v == m));
  if (inv.lane == 0u) {
    red_f32[inv.lid / inv.sg_size] = m;
    red_u32[inv.lid / inv.sg_size] = i;
  }
  workgroupBarrier();
  let nsg = (WG + inv.sg_size - 1u) / inv.sg_size;
  var t = ArgMax(red_f32[0], red_u32[0]);
  for (var k = 1u; k < nsg; k++) { t = better(t, ArgMax(red_f32[k], red_u32[k])); }
  workgroupBarrier();
  return t;
#else
  red_f32[inv.lid] = x.v;
  red_u32[inv.lid] = x.i;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (inv.lid < s) {
      let b = better(ArgMax(red_f32[inv.lid], red_u32[inv.lid]), ArgMax(red_f32[inv.lid + s], red_u32[inv.lid + s]));
      red_f32[inv.lid] = b.v;
      red_u32[inv.lid] = b.i;
    }
    workgroupBarrier();
  }
  let t = ArgMax(red_f32[0], red_u32[0]);
  workgroupBarrier();
  return t;
#endif
}
