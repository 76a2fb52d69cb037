/**
 * Probe (not a test, not a product path), issue 16 item 2: where the IQ codebooks live. For each
 * codebook type (IQ3_S, IQ3_XXS, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M) times the 2048×2048 mat-vec
 * (1 token, random blocks) two ways, interleaved A B A B… over rounds: (a) the production kernel,
 * grid as a WGSL `const` array; (b) the same composed WGSL with the grid as a `var<storage, read>`
 * binding, uploaded once (iq-codebook-storage-variant.ts builds it). Each pair is first checked
 * bit for bit on the timing weight; the probe exits non-zero if (b) differs from (a).
 * Reports ms per call of each and the per-round ratio storage ÷ const (median, min–max).
 *
 *   node --import ./src/node/register.js bench/probes/iq-codebook-storage.ts [--rounds N] [--types IQ1_S,IQ2_S]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createStorageBuffer } from '../../src/gpu/buffers.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import { makeWeight, randomValues } from '../../test/kernels/matmul-helpers.ts';
import { timeInterleaved } from '../../src/gpu/timing.ts';
import { pairedRatios, spread } from '../../src/stats.ts';
import { fmt, markdownTable } from '../lib/table.ts';
import { buildCodebookPair, CODEBOOK_TYPES, firstMismatch } from './iq-codebook-storage-variant.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    types: { type: 'string' },
    'min-ms': { type: 'string', default: '150' },
  },
});
const positiveInt = (flag: string, v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`--${flag} must be a positive integer, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
const rounds = positiveInt('rounds', args.rounds);
const minBatchMs = positiveInt('min-ms', args['min-ms']);
const wanted = args.types?.split(',').map((s) => s.trim().toUpperCase());
const unknown = wanted?.filter((w) => !CODEBOOK_TYPES.some((t) => t.name === w)) ?? [];
if (unknown.length) {
  console.error(`--types: not a codebook type: ${unknown.join(', ')} (known: ${CODEBOOK_TYPES.map((t) => t.name).join(', ')})`);
  process.exit(2);
}
const types = CODEBOOK_TYPES.filter((t) => !wanted || wanted.includes(t.name));

const ctx = await requestNodeGpu({ warn: null });
const rows = 2048,
  cols = 2048;
const input = createStorageBuffer(ctx, randomValues(cols, 3));
const output = createStorageBuffer(ctx, rows * 4);
const encoders: ((p: GPUComputePassEncoder) => void)[] = [];
for (const [i, t] of types.entries()) {
  const weight = uploadWeight(ctx, t.name, t.type, rows, cols, makeWeight(t.type, rows, cols, 11 + i).bytes);
  const pair = await buildCodebookPair(ctx, t.type, { weight, input, output });
  const bad = await firstMismatch(ctx, pair, output, rows);
  if (bad >= 0) {
    console.error(`${t.name}: the storage-grid kernel differs from the const-grid kernel at output ${bad}`);
    process.exit(1);
  }
  encoders.push(
    (p) => pair.constCall.encode(p),
    (p) => pair.storageCall.encode(p),
  );
}
console.log(`storage-grid output bit-identical to const-grid output for ${types.map((t) => t.name).join(', ')}`);

const loadBefore = loadavg();
const t0 = performance.now();
const timing = await timeInterleaved(ctx, encoders, { rounds, minBatchMs });
const loadAfter = loadavg();
const table = types.map((t, i) => {
  const constMs = timing.msPerCall[2 * i]!;
  const storageMs = timing.msPerCall[2 * i + 1]!;
  const a = spread(constMs);
  const b = spread(storageMs);
  const r = spread(pairedRatios(storageMs, constMs));
  return [
    t.name,
    t.codes.length,
    `${fmt(a.median, 2)} (${fmt(a.min, 2)}–${fmt(a.max, 2)})`,
    `${fmt(b.median, 2)} (${fmt(b.min, 2)}–${fmt(b.max, 2)})`,
    `${fmt(r.median, 2)} (${fmt(r.min, 2)}–${fmt(r.max, 2)})`,
  ];
});
console.log(`\n${rows}×${cols} mat-vec, 1 token, ${rounds} interleaved rounds, ms per call median (min–max); ratio per round\n`);
console.log(markdownTable(['type', 'grid entries', '`const` grid (ms)', 'storage grid (ms)', 'storage ÷ const'], table));
const la = (l: number[]) => l.map((v) => v.toFixed(2)).join(' / ');
console.log(
  `\ntimed ${((performance.now() - t0) / 1000).toFixed(0)} s; load average (1/5/15 min) before ${la(loadBefore)}, after ${la(loadAfter)}`,
);
ctx.device.destroy();
