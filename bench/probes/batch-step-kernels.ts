/**
 * Where a batched decode step's time goes, kernel by kernel (issue 13's serve goal: 4 streams ≥ 2×
 * one). The engine decodes 1 and then 4 streams at once through its slots (the batched decode of
 * `lowbit serve --parallel`); one mid-run step of each is recorded dispatch by dispatch (pipeline,
 * bind groups, grid). Each recorded dispatch is then replayed alone, `--repeat` times in one
 * submission, timed to onSubmittedWorkDone (minus an empty submission's time), the 1-row and the
 * 4-row step's dispatch at the same place in the step measured one after the other, over
 * `--reps` interleaved repetitions. The table groups the dispatches by kernel family (the
 * pipeline, and for mat-vecs the weight: `output` is the LM head) and gives the ms per step at 1
 * and 4 rows (each dispatch's fastest rep, or with --stat median its median: on a machine shared
 * with other work the fastest rep is the least disturbed one), their ratio, and the family's
 * share of the 4-row step; the last rows compare the sum with the whole recorded step replayed
 * in one submission.
 *
 * With --checkout DIR (another checkout of lowbit, e.g. main), that checkout's engine is profiled
 * instead, on this checkout's probe.
 *
 *   node --import ./src/node/register.js bench/probes/batch-step-kernels.ts [--model NAME]
 *     [--reps 15] [--repeat 20] [--activations auto|f32|int8] [--rows 4] [--checkout DIR]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type Engine, loadEngine } from '../../src/engine/engine.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { isActivationsOption } from '../../src/kernels/matvec-q8.ts';
import { median } from '../../src/stats.ts';
import { localModel } from '../../test/helpers/fixtures.ts';
import { type Dispatch, dispatchFamily, recordSubmissions, timeDispatches } from '../lib/dispatch-record.ts';
import { fmt, markdownTable } from '../lib/table.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'tinystories-llama-3M-Q4_K_M.gguf' },
    reps: { type: 'string', default: '15' },
    repeat: { type: 'string', default: '20' },
    rows: { type: 'string', default: '4' },
    activations: { type: 'string', default: 'auto' },
    checkout: { type: 'string' },
    stat: { type: 'string', default: 'min' },
  },
});
if (!isActivationsOption(args.activations)) throw new RangeError(`--activations: auto, f32 or int8, got ${args.activations}`);
const count = (name: string, v: string, lo: number, hi: number) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new RangeError(`--${name}: ${lo}–${hi}, got ${v}`);
  return n;
};
if (args.stat !== 'min' && args.stat !== 'median') throw new RangeError(`--stat: min or median, got ${args.stat}`);
const stat = args.stat === 'min' ? (v: number[]) => Math.min(...v) : median;
const reps = count('reps', args.reps, 1, 500);
const repeat = count('repeat', args.repeat, 1, 1000);
const manyRows = count('rows', args.rows, 2, 4);

const PROMPTS = ['Once upon a time', 'The little dog', 'A girl named Lily', 'One day, a big bird'];
const TOKENS = 24;
const gpu = await requestNodeGpu({ warn: null });
const { device } = gpu;
const source = await FileByteSource.open(localModel(args.model));
const load = args.checkout
  ? ((await import(pathToFileURL(resolve(args.checkout, 'src/engine/engine.ts')).href)) as { loadEngine: typeof loadEngine }).loadEngine
  : loadEngine;
const engine: Engine = await load(source, { gpu, contextSize: 128, slots: 4, activations: args.activations }).finally(() => source.close());

/** Decodes n streams at once and returns a mid-run batched step's dispatches. */
async function recordStep(n: number): Promise<Dispatch[]> {
  const prepared = PROMPTS.slice(0, n).map((p) => engine.prepareGenerate(p, { maxTokens: TOKENS, temperature: 0 }));
  const submissions = await recordSubmissions(device, async () => {
    await Promise.all(
      prepared.map(async (p, i) => {
        for await (const _ of engine.slots[i]!.run(p));
      }),
    );
  });
  // Prefills are one submission per stream with other counts; the batched steps are the most common count.
  const counts = new Map<number, number>();
  for (const s of submissions) counts.set(s.length, (counts.get(s.length) ?? 0) + 1);
  const [steady] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
  const steps = submissions.filter((s) => s.length === steady);
  return steps[steps.length >> 1]!;
}

const time = (ds: readonly Dispatch[], times: number) => timeDispatches(device, ds, times);
const family = dispatchFamily;

await recordStep(manyRows); // warm-up: every row count's pipelines and bind groups exist afterwards
const steps = { one: await recordStep(1), many: await recordStep(manyRows) };
if (steps.one.length !== steps.many.length)
  throw new Error(`the 1-row step has ${steps.one.length} dispatches, the ${manyRows}-row step ${steps.many.length}`);
const n = steps.one.length;
// Per dispatch index: ms per run at 1 and at many rows; per rep: the whole step and an empty submission.
const perDispatch = { one: Array.from({ length: n }, () => [] as number[]), many: Array.from({ length: n }, () => [] as number[]) };
const whole = { one: [] as number[], many: [] as number[] };
for (let r = 0; r < reps; r++) {
  const empty = await time([], 0);
  for (let j = 0; j < n; j++) {
    const order: ('one' | 'many')[] = (r + j) % 2 ? ['many', 'one'] : ['one', 'many'];
    for (const k of order) perDispatch[k][j]!.push(Math.max(0, (await time([steps[k][j]!], repeat)) - empty) / repeat);
  }
  for (const k of r % 2 ? (['many', 'one'] as const) : (['one', 'many'] as const)) whole[k].push((await time(steps[k], 1)) - empty);
  process.stderr.write(`rep ${r + 1}/${reps}\n`);
}

const families = new Map<string, number[]>();
steps.many.forEach((d, j) => {
  const f = family(d);
  if (family(steps.one[j]!) !== f) throw new Error(`dispatch ${j}: ${family(steps.one[j]!)} at 1 row, ${f} at ${manyRows}`);
  families.set(f, [...(families.get(f) ?? []), j]);
});
const msOf = (k: 'one' | 'many', js: number[]) => js.reduce((s, j) => s + stat(perDispatch[k][j]!), 0);
const totalMany = msOf(
  'many',
  steps.many.map((_, j) => j),
);
const totalOne = msOf(
  'one',
  steps.one.map((_, j) => j),
);
const rowsOfTable = [...families]
  .map(([f, js]) => ({ f, count: js.length, one: msOf('one', js), many: msOf('many', js) }))
  .sort((a, b) => b.many - b.one - (a.many - a.one));
const info = engine.info;
console.log(
  `${args.checkout ?? 'this checkout'}: ${args.model}, ${info.activations} activations, ${n} dispatches per step; each dispatch ×${repeat} per submission, ${reps} interleaved reps, ${args.stat === 'min' ? 'fastest rep' : 'medians'}\n`,
);
console.log(
  markdownTable(
    ['kernel family', 'dispatches', 'ms at 1 row', `ms at ${manyRows} rows`, 'ratio', `share of ${manyRows}-row step`, 'excess ms'],
    [
      ...rowsOfTable.map((r) => [
        r.f,
        r.count,
        fmt(r.one, 3),
        fmt(r.many, 3),
        fmt(r.many / r.one, 2),
        `${fmt((100 * r.many) / totalMany, 1)}%`,
        fmt(r.many - r.one, 3),
      ]),
      ['sum of dispatches', n, fmt(totalOne, 3), fmt(totalMany, 3), fmt(totalMany / totalOne, 2), '100%', fmt(totalMany - totalOne, 3)],
      [
        'whole step, one submission',
        n,
        fmt(stat(whole.one), 3),
        fmt(stat(whole.many), 3),
        fmt(stat(whole.many) / stat(whole.one), 2),
        '',
        '',
      ],
    ],
  ),
);
await engine.dispose?.();
device.destroy();
