/**
 * Where one evaluation step's time goes, kernel by kernel: a whole chunk prefilled with every
 * position's logits written, as `lowbit perplexity` and `lowbit kl` run it. One step is recorded
 * dispatch by dispatch; each dispatch is then replayed alone `--repeat` times in one submission,
 * timed to onSubmittedWorkDone (minus an empty submission's time), over `--reps` repetitions. The
 * table groups the dispatches by kernel family (pipeline, and the weight for mat-muls) with the ms
 * per step (fastest rep) and the family's share, and compares the sum with the whole recorded
 * step replayed in one submission and with evaluate() itself (which also reads the logits back).
 *
 * With --checkout DIR (another checkout of lowbit, e.g. main), that checkout's engine is profiled
 * instead, on this checkout's probe.
 *
 *   node --import ./src/node/register.js bench/probes/eval-step-kernels.ts [--model FILE] [--ctx 256]
 *     [--activations auto|f32|int8|ggml] [--reps 5] [--repeat 3] [--checkout DIR]
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type Engine, loadEngine } from '../../src/engine/engine.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { isActivationsOption } from '../../src/kernels/matvec-q8.ts';
import { demoModel } from '../../test/helpers/fixtures.ts';
import { dispatchFamily, recordSubmissions, timeDispatches } from '../lib/dispatch-record.ts';
import { fmt, markdownTable } from '../lib/table.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: demoModel },
    ctx: { type: 'string', default: '256' },
    activations: { type: 'string', default: 'auto' },
    reps: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '3' },
    checkout: { type: 'string' },
  },
});
const count = (name: string, v: string, lo: number, hi: number) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new RangeError(`--${name}: ${lo}–${hi}, got ${v}`);
  return n;
};
const ctx = count('ctx', args.ctx, 4, 4096);
const reps = count('reps', args.reps, 1, 100);
const repeat = count('repeat', args.repeat, 1, 100);
if (!isActivationsOption(args.activations) && args.activations !== 'ggml')
  throw new RangeError(`--activations: auto, f32, int8 or ggml, got ${args.activations}`);

const gpu = await requestNodeGpu({ warn: null });
const { device } = gpu;
const source = await FileByteSource.open(args.model);
const load = args.checkout
  ? ((await import(pathToFileURL(resolve(args.checkout, 'src/engine/engine.ts')).href)) as { loadEngine: typeof loadEngine }).loadEngine
  : loadEngine;
const engine: Engine = await load(source, {
  gpu,
  contextSize: ctx,
  maxBatch: ctx,
  activations: args.activations as never,
  evaluation: { allLogits: true },
});
const evaluator = engine.evaluator();
const tokens = Array.from({ length: ctx }, (_, i) => 1 + ((i * 7) % 200));
const evaluate = () => evaluator.evaluate(tokens, () => undefined, { outputFrom: ctx >> 1 });

await evaluate(); // warm-up: pipelines and bind groups exist afterwards
const submissions = await recordSubmissions(device, evaluate);
const step = submissions.flat();
const n = step.length;
const perDispatch = Array.from({ length: n }, () => Infinity);
let whole = Infinity;
let evaluateMs = Infinity;
for (let r = 0; r < reps; r++) {
  const empty = await timeDispatches(device, [], 0);
  for (let j = 0; j < n; j++)
    perDispatch[j] = Math.min(perDispatch[j]!, Math.max(0, (await timeDispatches(device, [step[j]!], repeat)) - empty) / repeat);
  whole = Math.min(whole, (await timeDispatches(device, step, 1)) - empty);
  const t0 = performance.now();
  await evaluate();
  evaluateMs = Math.min(evaluateMs, performance.now() - t0);
  process.stderr.write(`rep ${r + 1}/${reps}\n`);
}
const families = new Map<string, number[]>();
step.forEach((d, j) => families.set(dispatchFamily(d), [...(families.get(dispatchFamily(d)) ?? []), j]));
const total = perDispatch.reduce((a, b) => a + b, 0);
const rows = [...families]
  .map(([f, js]) => ({ f, count: js.length, ms: js.reduce((s, j) => s + perDispatch[j]!, 0) }))
  .sort((a, b) => b.ms - a.ms);
console.log(
  `${args.checkout ?? 'this checkout'}: ${args.model}, ${ctx}-token step, ${engine.info.activations} activations, ${n} dispatches in ${submissions.length} submission(s); each dispatch ×${repeat} per submission, fastest of ${reps} reps\n`,
);
console.log(
  markdownTable(
    ['kernel family', 'dispatches', 'ms per step', 'share'],
    [
      ...rows.map((r) => [r.f, r.count, fmt(r.ms, 2), `${fmt((100 * r.ms) / total, 1)}%`]),
      ['sum of dispatches', n, fmt(total, 2), '100%'],
      ['whole step, one submission', n, fmt(whole, 2), ''],
      ['evaluate() with readback', n, fmt(evaluateMs, 2), ''],
    ],
  ),
);
await engine.dispose?.();
device.destroy();
