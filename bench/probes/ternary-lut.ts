/**
 * Probe (not a test, not a product path): I2_S mat-vec through a lookup table of activation pair
 * sums, T-MAC style with groups of 2 (16 sums per pair, built per input by a pre-pass, then one
 * lookup and one add per 2 weights), timed interleaved against Q4_0 and I2_S on the f32 and int8
 * paths (issue 11 item 1: the f32 alternative to W1.58A8). 2048×2048, 1 token; ignores the per-tensor
 * scale, and checks itself against the f32 kernel first.
 *
 *   node --import ./src/node/register.js bench/probes/ternary-lut.ts      (ROUNDS=N, default 5)
 */
import buildSrc from './ternary-lut-build.wgsl?raw';
import mainSrc from './ternary-lut-matvec.wgsl?raw';
import { createStorageBuffer, createUniformBuffer, readF32 } from '../../src/gpu/buffers.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { composeWgsl, getPipeline } from '../../src/gpu/pipelines.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import { createMatVec } from '../../src/kernels/matmul.ts';
import { createMatVecQ8, createQuantizeQ8, quantizedActivationBytes } from '../../src/kernels/matvec-q8.ts';
import { makeBindGroup } from '../../src/kernels/common.ts';
import { getGpuQuantType } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { makeWeight, randomValues } from '../../test/kernels/matmul-helpers.ts';
import { timeInterleaved } from '../../src/gpu/timing.ts';
import { pairedRatios, spread } from '../../src/stats.ts';

const ctx = await requestNodeGpu({ warn: null });
const rows = 2048,
  cols = 2048;
function wbytes(type: GGMLType) {
  const tile = makeWeight(type, 16, cols, 7).bytes;
  const e = getGpuQuantType(type);
  const rb = e.rowBytes(cols);
  const out = new Uint8Array(rows * rb + e.trailerBytes);
  for (let r = 0; r < rows; r += 16) out.set(tile.subarray(0, 16 * rb), r * rb);
  out.set(tile.subarray(16 * rb, 16 * rb + e.trailerBytes), rows * rb);
  return out;
}
const x = randomValues(cols, 3);
const input = createStorageBuffer(ctx, x);
const output = createStorageBuffer(ctx, rows * 4);
const xq = createStorageBuffer(ctx, quantizedActivationBytes(cols));
const quant = createQuantizeQ8(ctx, { cols }).bind({ input, output: xq });
const q40 = uploadWeight(ctx, 'q40', GGMLType.Q4_0, rows, cols, wbytes(GGMLType.Q4_0));
const i2s = uploadWeight(ctx, 'i2s', GGMLType.I2_S, rows, cols, wbytes(GGMLType.I2_S));
const f32q40 = createMatVec(ctx, { type: GGMLType.Q4_0, rows, cols }).bind({ weight: q40, input, output });
const i8q40 = createMatVecQ8(ctx, { type: GGMLType.Q4_0, rows, cols }).bind({ weight: q40, input: xq, output });
const f32i2s = createMatVec(ctx, { type: GGMLType.I2_S, rows, cols }).bind({ weight: i2s, input, output });
const i8i2s = createMatVecQ8(ctx, { type: GGMLType.I2_S, rows, cols }).bind({ weight: i2s, input: xq, output });
const blocks = cols / 128;
const lut = createStorageBuffer(ctx, blocks * 64 * 16 * 4);
const params = createUniformBuffer(ctx, new Uint32Array([rows, blocks, (cols / 128) * 32, 0]));
const mainP = getPipeline(ctx, 'probe-lut-main', composeWgsl(mainSrc), 'main');
const buildP = getPipeline(ctx, 'probe-lut-build', composeWgsl(buildSrc), 'build');
const mainG = makeBindGroup(ctx, mainP, 'lut-main', [i2s.parts[0]!.buffer, lut, output, params]);
const buildG = makeBindGroup(ctx, buildP, 'lut-build', [input, lut, params]);
const lutCall = (p: GPUComputePassEncoder) => {
  p.setPipeline(buildP);
  p.setBindGroup(0, buildG);
  p.dispatchWorkgroups(Math.ceil((blocks * 64) / 64));
  p.setPipeline(mainP);
  p.setBindGroup(0, mainG);
  p.dispatchWorkgroups(Math.ceil(rows / 4 / 16));
};
// Checked against the f32 kernel (which applies the per-tensor scale the probe leaves out).
const run1 = async (f: (p: GPUComputePassEncoder) => void) => {
  const enc = ctx.device.createCommandEncoder();
  const p = enc.beginComputePass();
  f(p);
  p.end();
  ctx.device.queue.submit([enc.finish()]);
  return readF32(ctx, output, rows);
};
const yRef = await run1((p) => f32i2s.encode(p));
const yLut = await run1(lutCall);
let worst = 0;
for (let r = 0; r < rows; r++) worst = Math.max(worst, Math.abs(yLut[r]! * (i2s.tensorScale ?? 1) - yRef[r]!));
console.log('LUT probe max |Δ| vs f32 kernel', worst, 'scale', i2s.tensorScale);
const ks: [string, (p: GPUComputePassEncoder) => void][] = [
  ['f32 Q4_0', (p) => f32q40.encode(p)],
  [
    'int8 Q4_0',
    (p) => {
      quant.encode(p);
      i8q40.encode(p);
    },
  ],
  ['f32 I2_S', (p) => f32i2s.encode(p)],
  [
    'int8 I2_S (swar)',
    (p) => {
      quant.encode(p);
      i8i2s.encode(p);
    },
  ],
  ['LUT f32 I2_S (build+mv)', lutCall],
];
const t = await timeInterleaved(
  ctx,
  ks.map((k) => k[1]),
  { rounds: Number(process.env.ROUNDS ?? 5), minBatchMs: 150 },
);
for (let i = 0; i < ks.length; i++) {
  const ms = spread(t.msPerCall[i]!);
  const a = spread(pairedRatios(t.msPerCall[0]!, t.msPerCall[i]!));
  const b = spread(pairedRatios(t.msPerCall[1]!, t.msPerCall[i]!));
  console.log(
    `${ks[i]![0].padEnd(26)} ${ms.median.toFixed(2)} ms (${ms.min.toFixed(2)}–${ms.max.toFixed(2)})  ÷Q4_0 f32 ${a.median.toFixed(2)} (${a.min.toFixed(2)}–${a.max.toFixed(2)})  ÷Q4_0 int8 ${b.median.toFixed(2)} (${b.min.toFixed(2)}–${b.max.toFixed(2)})`,
  );
}
ctx.device.destroy();
