// Probe only (bench/probes/ternary-lut.ts): I2_S mat-vec through a table of activation pair sums.
// Byte g of an I2_S block holds elements g, 32+g (bits 7:4, pair h = 0) and 64+g, 96+g (bits 3:0,
// h = 1): each nibble indexes the 16 sums of its pair, LUT[(64b + 32h + g)·16 + nibble].
struct P { rows: u32, blocks: u32, rowBytes: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> W4: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> LUT: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r0 = gid.x * 4u;
  if (r0 >= p.rows) { return; }
#for R in 0..4
  let rb{{R}} = (min(r0 + {{R}}u, p.rows - 1u) * p.rowBytes) >> 4u;
  var acc{{R}} = 0.0;
#endfor
  for (var b = 0u; b < p.blocks; b++) {
    let base = b * 64u;
#for R in 0..4
    let qa{{R}} = W4[rb{{R}} + 2u * b];
    let qb{{R}} = W4[rb{{R}} + 2u * b + 1u];
    let q{{R}} = array<u32, 8>(qa{{R}}.x, qa{{R}}.y, qa{{R}}.z, qa{{R}}.w, qb{{R}}.x, qb{{R}}.y, qb{{R}}.z, qb{{R}}.w);
#endfor
#for K in 0..8
#for J in 0..4
#for H in 0..2
    {
      let pi = (base + {{H}}u * 32u + {{K * 4 + J}}u) << 4u;
#for R in 0..4
      acc{{R}} += LUT[pi + ((q{{R}}[{{K}}] >> {{J * 8 + 4 - H * 4}}u) & 15u)];
#endfor
    }
#endfor
#endfor
#endfor
  }
#for R in 0..4
  if (r0 + {{R}}u < p.rows) { Y[r0 + {{R}}u] = acc{{R}}; }
#endfor
}

