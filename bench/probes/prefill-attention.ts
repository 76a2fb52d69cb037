/**
 * Prefill attention's two work layouts (attention.ts AttentionLayout) on one shape, timed
 * interleaved (each round times both, the ratio taken within the round), after checking that they
 * agree. The default shape is the 3M fixtures' at a 256-token chunk (lowbit perplexity -c 256);
 * the catalogue's: 64,9,3,2048,128 (SmolLM2-135M), 64,14,2,… (Qwen2.5-0.5B), 128,16,8,…
 * (Qwen3-0.6B), 64,32,8,… (Llama-3.2-1B).
 *
 *   node --import ./src/node/register.js bench/probes/prefill-attention.ts
 *     [--shape headDim,nHeads,nKvHeads,ctx,tokens] [--rounds 7] [--reps 3]
 */
import { parseArgs } from 'node:util';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { ATTENTION_LAYOUTS, createPrefillAttention } from '../../src/kernels/attention.ts';
import type { KernelCall } from '../../src/kernels/common.ts';
import { createStepParams } from '../../src/kernels/step-params.ts';
import { pairedRatios, spread } from '../../src/stats.ts';

const { values: args } = parseArgs({
  options: {
    shape: { type: 'string', default: '32,8,4,256,256' },
    rounds: { type: 'string', default: '7' },
    reps: { type: 'string', default: '3' },
  },
});
const [headDim, nHeads, nKvHeads, maxCtx, tokens] = args.shape.split(',').map(Number) as [number, number, number, number, number];
const rounds = Number(args.rounds);
const reps = Number(args.reps);
if (![headDim, nHeads, nKvHeads, maxCtx, tokens, rounds, reps].every((n) => Number.isSafeInteger(n) && n > 0) || tokens > maxCtx)
  throw new RangeError(`--shape headDim,nHeads,nKvHeads,ctx,tokens (tokens ≤ ctx), --rounds and --reps: positive integers`);

const gpu = await requestNodeGpu({});
const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const step = { pos0: 0, nTokens: tokens };
const params = createStepParams(gpu, step);
const q = createStorageBuffer(gpu, random(tokens * nHeads * headDim));
const kCache = createStorageBuffer(gpu, random(nKvHeads * maxCtx * headDim));
const vCache = createStorageBuffer(gpu, random(nKvHeads * maxCtx * headDim));
const layouts = ATTENTION_LAYOUTS;
const calls = layouts.map((layout) => {
  const output = createStorageBuffer(gpu, tokens * nHeads * headDim * 4);
  const call = createPrefillAttention(gpu, { headDim, nHeads, nKvHeads, maxCtx, maxTokens: tokens, layout }).bind({
    params,
    q,
    kCache,
    vCache,
    output,
  });
  return { layout, call, output };
});

async function timeCall(call: KernelCall): Promise<number> {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (let i = 0; i < reps; i++) call.encode(pass, step);
  pass.end();
  await gpu.device.queue.onSubmittedWorkDone();
  const t0 = performance.now();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / reps;
}

for (const c of calls) await timeCall(c.call);
const [a, b] = await Promise.all(calls.map((c) => readF32(gpu, c.output)));
let maxDiff = 0;
for (let i = 0; i < a!.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a![i]! - b![i]!));
console.log(`shape ${args.shape}: max |tiled − rows| ${maxDiff.toExponential(2)}`);
const ms: number[][] = calls.map(() => []);
for (let r = 0; r < rounds; r++) for (let i = 0; i < calls.length; i++) ms[i]!.push(await timeCall(calls[i]!.call));
const fmt = (s: { median: number; min: number; max: number }, d = 2) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
for (let i = 0; i < calls.length; i++) console.log(`${layouts[i]}: ${fmt(spread(ms[i]!))} ms`);
console.log(`rows ÷ tiled, per round: ${fmt(spread(pairedRatios(ms[1]!, ms[0]!)))}`);
gpu.device.destroy();
