/**
 * What one lane's memory access costs next to its arithmetic, on whatever adapter runs this
 * (made to explain the GEMM's tiles on SwiftShader, docs/kernels.md): kernels that each do the same
 * count of one operation per lane, timed interleaved, reported as ns per lane-operation
 * (throughput over the whole device, so on a 2-core CPU two lanes run at once).
 *
 *   storage u32       a u32 read from a storage buffer (lanes on consecutive words)
 *   storage vec4      a vec4<u32> read from a storage buffer (lanes on consecutive vec4s)
 *   storage vec4, same pattern   the index pattern of the workgroup kernel, on a storage buffer
 *   workgroup vec4    a vec4<u32> read from workgroup memory (filled once, one barrier)
 *   vec4 FMA          one fma(vec4<f32>), 16 independent accumulators
 *
 *   node --import ./src/node/register.js bench/probes/swiftshader-loads.ts [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { createStorageBuffer } from '../../src/gpu/buffers.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { composeWgsl, getPipeline } from '../../src/gpu/pipelines.ts';
import { timeInterleaved } from '../../src/gpu/timing.ts';
import { spread } from '../../src/stats.ts';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(args.rounds);
if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 50) throw new RangeError(`--rounds: 1–50, got ${args.rounds}`);

const WG = 64;
const ITER = 64;
const GROUPS = 2048;
const ctx = await requestNodeGpu({ warn: null });
const words = GROUPS * WG * ITER;
const src = createStorageBuffer(
  ctx,
  new Uint8Array(words * 4).map((_, i) => (i * 2654435761) >>> 24),
  { label: 'probe:src' },
);
const dst = createStorageBuffer(ctx, GROUPS * WG * 4, { label: 'probe:dst' });

const head = (binding: string) => `
@group(0) @binding(0) var<storage, read> ${binding};
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {`;
// dst[0] & 1 is 0 at run time but unknown to the compiler, so loop bounds and values stay live.
const KERNELS: [string, string][] = [
  [
    'storage u32',
    `${head('src: array<u32>')}
  var acc = 0u;
  for (var i = 0u; i < ${ITER}u; i++) { acc ^= src[wid.x * ${WG * ITER}u + l + i * ${WG}u]; }
  dst[g.x] = acc;
}`,
  ],
  [
    'storage vec4',
    `${head('src: array<vec4<u32>>')}
  var acc = vec4<u32>(0u);
  for (var i = 0u; i < ${ITER}u; i++) { acc ^= src[(wid.x * ${WG * ITER}u + l + i * ${WG}u) >> 2u]; }
  dst[g.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}`,
  ],
  [
    'storage vec4, same pattern',
    `${head('src: array<vec4<u32>>')}
  var acc = vec4<u32>(0u);
  for (var i = 0u; i < ${ITER}u; i++) { acc ^= src[wid.x * 256u + ((l + i * 64u) & 255u)]; }
  dst[g.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}`,
  ],
  [
    'workgroup vec4',
    `var<workgroup> tile: array<vec4<u32>, 256>;
${head('src: array<vec4<u32>>')}
  for (var j = 0u; j < 4u; j++) { tile[l + j * 64u] = src[wid.x * 256u + l + j * 64u]; }
  workgroupBarrier();
  var acc = vec4<u32>(0u);
  for (var i = 0u; i < ${ITER}u; i++) { acc ^= tile[(l + i * 64u) & 255u]; }
  dst[g.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}`,
  ],
  [
    'vec4 FMA',
    `${head('src: array<vec4<u32>>')}
  let s0 = bitcast<vec4<f32>>(src[g.x]);
  ${[0, 1, 2, 3].map((t) => `var x${t} = s0 + ${t}.0;`).join(' ')}
  ${[0, 1, 2, 3].map((r) => `var w${r} = s0 * ${r + 2}.0;`).join(' ')}
  ${[0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((t) => `var a${r}${t} = vec4<f32>(0.0);`).join(' ')).join('\n  ')}
  let n = ${ITER}u + (dst[0] & 1u);
  for (var i = 0u; i < n; i++) {
    ${[0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((t) => `a${r}${t} = fma(w${r}, x${t}, a${r}${t});`).join(' ')).join('\n    ')}
    // Two operands change each pass, so the compiler cannot fold the loop into multiplies.
    x0 = x0 * 0.999;
    w1 = w1 + 0.001;
  }
  var s = vec4<f32>(0.0);
  ${[0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((t) => `s += a${r}${t};`).join(' ')).join('\n  ')}
  dst[g.x] = bitcast<u32>(s.x + s.y + s.z + s.w);
}`,
  ],
];
const encoders = KERNELS.map(([name, code]) => {
  const pipeline = getPipeline(ctx, `probe:${name}`, composeWgsl(code), 'main');
  const group = ctx.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: src } },
      { binding: 1, resource: { buffer: dst } },
    ],
  });
  return (pass: GPUComputePassEncoder) => {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(GROUPS);
  };
});
const timed = await timeInterleaved(ctx, encoders, { rounds });
// The FMA kernel does 16 per pass (its 16 accumulators), the others one operation per pass.
const laneOps = (name: string) => GROUPS * WG * ITER * (name === 'vec4 FMA' ? 16 : 1);
console.log(`${ctx.adapterInfo?.description ?? 'adapter'}: ns per lane-operation, median of ${rounds} interleaved rounds (min–max)`);
KERNELS.forEach(([name], i) => {
  const s = spread(timed.msPerCall[i]!.map((ms) => (ms * 1e6) / laneOps(name)));
  console.log(`${name.padEnd(28)} ${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`);
});
src.destroy();
dst.destroy();
ctx.device.destroy();
