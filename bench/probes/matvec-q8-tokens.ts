/**
 * What a batched decode step's int8 mat-vec costs per token: the kernel over NT tokens (the rows
 * of a `lowbit serve --parallel` step, src/runtime/batch-decode.ts) against NT = 1, per type,
 * timed interleaved (src/gpu/timing.ts). "NT ÷ 1" is the NT-token call's time over the one-token
 * call's: 1.0 would mean the extra tokens are free (the weights decoded once serve all of them),
 * NT would mean nothing is shared. Issue 13's serve goal (N = 4 aggregate ≥ 2× N = 1) needs the
 * step's linears well under 2 at NT = 4.
 * With --baseline DIR (another checkout of lowbit, e.g. main), that checkout's kernels are timed
 * in the same rounds, on the same device and weights, and each ratio is also given as this
 * checkout's time ÷ the baseline's (per round, then the median).
 *
 *   node --import ./src/node/register.js bench/probes/matvec-q8-tokens.ts \
 *     [--types Q4_K,Q6_K,Q8_0,...] [--rows 256 --cols 768] [--tokens 4] [--rounds 7] [--baseline /path/to/checkout]
 *
 * The input quantize is not timed (one per step, whatever the token count's cost per token).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createStorageBuffer } from '../../src/gpu/buffers.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { timeInterleaved } from '../../src/gpu/timing.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import * as here from '../../src/kernels/matvec-q8.ts';
import { getGpuQuantType, gpuQuantTypes } from '../../src/quant/table.ts';
import { median, pairedRatios, spread } from '../../src/stats.ts';
import { makeWeight } from '../../test/kernels/matmul-helpers.ts';
import { fmt, markdownTable } from '../lib/table.ts';

const { values: args } = parseArgs({
  options: {
    types: { type: 'string', default: 'Q8_0,Q4_0,Q4_K,Q6_K,TQ2_0,TQ1_0,I2_S' },
    rows: { type: 'string', default: '256' },
    cols: { type: 'string', default: '768' },
    tokens: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '7' },
    'min-ms': { type: 'string', default: '150' },
    baseline: { type: 'string' },
  },
});
const int = (name: string, v: string, lo: number, hi: number) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new RangeError(`--${name}: an integer ${lo}–${hi}, got ${v}`);
  return n;
};
const rows = int('rows', args.rows, 1, 1 << 16);
const cols = int('cols', args.cols, 256, 1 << 16);
const tokens = int('tokens', args.tokens, 2, here.MAX_Q8_TOKENS);
const rounds = int('rounds', args.rounds, 1, 100);
const minBatchMs = int('min-ms', args['min-ms'], 1, 10_000);

type MatVecQ8Module = typeof here;
const checkouts: { name: string; mod: MatVecQ8Module }[] = [{ name: 'this', mod: here }];
if (args.baseline) {
  const url = pathToFileURL(resolve(args.baseline, 'src/kernels/matvec-q8.ts')).href;
  checkouts.push({ name: 'baseline', mod: (await import(url)) as MatVecQ8Module });
}

const ctx = await requestNodeGpu({ warn: null });
const log = (s: string) => process.stderr.write(`${s}\n`);
const rowsOut: string[][] = [];
for (const name of args.types.split(',')) {
  const type = gpuQuantTypes().find((t) => t.name === name);
  if (!type || !here.hasInt8MatVec(type.id)) throw new RangeError(`--types: ${name} has no int8 mat-vec`);
  const qk = getGpuQuantType(type.id).rowMultiple;
  if (cols % qk) throw new RangeError(`--cols ${cols} is not a multiple of ${name}'s ${qk}`);
  const weight = uploadWeight(ctx, `probe:${name}`, type.id, rows, cols, makeWeight(type.id, rows, cols, 5).bytes);
  const input = createStorageBuffer(ctx, tokens * here.quantizedActivationBytes(cols));
  const output = createStorageBuffer(ctx, tokens * rows * 4);
  // Per checkout: the one-token and the NT-token kernel (the device's default products and mode).
  const encoders = checkouts.flatMap(({ mod }) =>
    [1, tokens].map((nt) => {
      const call = mod.createMatVecQ8(ctx, { type: type.id, rows, cols, tokens: nt }).bind({ weight, input, output });
      return (pass: GPUComputePassEncoder) => call.encode(pass, { pos0: 0, nTokens: nt });
    }),
  );
  log(`${name}: timing ${encoders.length} kernels, ${rounds} rounds …`);
  const { msPerCall } = await timeInterleaved(ctx, encoders, { rounds, minBatchMs });
  const cell = (r: number[]) => {
    const s = spread(r);
    return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
  };
  const perCheckout = checkouts.map((_, i) => pairedRatios(msPerCall[2 * i + 1]!, msPerCall[2 * i]!));
  const row = [name, `${fmt(median(msPerCall[0]!) * 1000)}`, cell(perCheckout[0]!)];
  if (checkouts.length > 1) {
    row.push(`${fmt(median(msPerCall[2]!) * 1000)}`, cell(perCheckout[1]!));
    row.push(cell(pairedRatios(msPerCall[0]!, msPerCall[2]!)), cell(pairedRatios(msPerCall[1]!, msPerCall[3]!)));
  }
  rowsOut.push(row);
  for (const p of weight.parts) p.buffer.destroy();
  input.destroy();
  output.destroy();
}
const head = ['type', 'µs/call NT=1', `NT=${tokens} ÷ NT=1`];
if (checkouts.length > 1)
  head.push('baseline µs NT=1', `baseline NT=${tokens} ÷ 1`, 'NT=1 this ÷ baseline', `NT=${tokens} this ÷ baseline`);
console.log(`int8 mat-vec ${rows}×${cols}, ${rounds} rounds interleaved; medians of per-round ratios (min–max)\n`);
console.log(markdownTable(head, rowsOut));
ctx.device.destroy();
