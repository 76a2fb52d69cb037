/**
 * Where a batched decode step's time goes (issue 13's serve goal: 4 streams ≥ 2× one): the 3M
 * fixture decoding N = 1, 2, 4 sequences at once through the engine's slots (the batched decode of
 * `lowbit serve --parallel`), rounds interleaved. Per step: wall ms, dispatches (the most common
 * count over the run's submissions), the process's CPU ms (user + system: on SwiftShader the
 * kernels run on the process's own threads, so this is the device's work plus JS, and it is less
 * sensitive than wall time to other processes on a shared machine), and the main thread's ms
 * from creating a step's command encoder to its submit returning (JS encoding and Dawn's
 * validation and recording). Tokens are greedy, so every stream decodes the same steps in every
 * round. With --baseline DIR (another checkout of lowbit, e.g. main), that checkout's engine runs
 * the same streams on the same device, interleaved with this one's in every round, and the table
 * adds this ÷ baseline per round.
 *
 *   node --import ./src/node/register.js bench/probes/batch-step.ts [--model NAME] [--tokens 48]
 *     [--rounds 3] [--activations auto|f32|int8] [--baseline /path/to/checkout]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { type Engine, loadEngine } from '../../src/engine/engine.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { isActivationsOption } from '../../src/kernels/matvec-q8.ts';
import { median, spread } from '../../src/stats.ts';
import { localModel } from '../../test/helpers/fixtures.ts';
import { instrument } from '../lib/e2e-measure.ts';
import { fmt, markdownTable } from '../lib/table.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'tinystories-llama-3M-Q4_K_M.gguf' },
    tokens: { type: 'string', default: '48' },
    rounds: { type: 'string', default: '3' },
    activations: { type: 'string', default: 'auto' },
    baseline: { type: 'string' },
  },
});
if (!isActivationsOption(args.activations)) throw new RangeError(`--activations: auto, f32 or int8, got ${args.activations}`);
const tokens = Number(args.tokens);
const rounds = Number(args.rounds);
if (!Number.isSafeInteger(tokens) || tokens < 4 || tokens > 1000) throw new RangeError(`--tokens: 4–1000, got ${args.tokens}`);
if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 50) throw new RangeError(`--rounds: 1–50, got ${args.rounds}`);

const STREAMS = [1, 2, 4];
const PROMPTS = ['Once upon a time', 'The little dog', 'A girl named Lily', 'One day, a big bird'];
const gpu = await requestNodeGpu({ warn: null });
const activations = args.activations;
const open = async (load: typeof loadEngine): Promise<Engine> => {
  const source = await FileByteSource.open(localModel(args.model));
  return load(source, { gpu, contextSize: 128, slots: 4, activations }).finally(() => source.close());
};
const checkouts: { name: string; engine: Engine }[] = [{ name: 'this', engine: await open(loadEngine) }];
if (args.baseline) {
  const url = pathToFileURL(resolve(args.baseline, 'src/engine/engine.ts')).href;
  checkouts.push({ name: 'baseline', engine: await open(((await import(url)) as { loadEngine: typeof loadEngine }).loadEngine) });
}

interface Sample {
  msPerStep: number;
  dispatches: number;
  cpuMsPerStep: number;
  encodeMsPerStep: number;
}

/** One run of n streams at once; a step is one submission of the batched decode. */
async function runStreams(engine: Engine, n: number): Promise<Sample> {
  const greedy = { maxTokens: tokens, temperature: 0 };
  const prepared = PROMPTS.slice(0, n).map((p) => engine.prepareGenerate(p, greedy));
  const probe = instrument(gpu);
  const queue = gpu.device.queue;
  const submit = queue.submit.bind(queue);
  const perSubmission: number[] = [];
  let seen = 0;
  let encodeMs = 0;
  let encodeStart: number | undefined;
  const device = gpu.device;
  const createCommandEncoder = device.createCommandEncoder.bind(device);
  device.createCommandEncoder = (d) => {
    encodeStart ??= performance.now();
    return createCommandEncoder(d);
  };
  queue.submit = (buffers) => {
    submit(buffers);
    if (encodeStart !== undefined) encodeMs += performance.now() - encodeStart;
    encodeStart = undefined;
    perSubmission.push(probe.counters.dispatches - seen);
    seen = probe.counters.dispatches;
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    await Promise.all(
      prepared.map(async (p, i) => {
        for await (const _ of engine.slots[i]!.run(p));
      }),
    );
  } finally {
    queue.submit = submit;
    device.createCommandEncoder = createCommandEncoder;
    probe.restore();
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // Prefills are one submission per stream with other counts; the batched steps are the most common count.
  const counts = new Map<number, number>();
  for (const d of perSubmission) counts.set(d, (counts.get(d) ?? 0) + 1);
  const [dispatches, steps] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
  return {
    msPerStep: wall / steps,
    dispatches,
    cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps,
    encodeMsPerStep: encodeMs / perSubmission.length,
  };
}

const samples = new Map<string, Sample[]>();
const key = (name: string, n: number) => `${name}/${n}`;
for (const { name, engine } of checkouts) {
  await runStreams(engine, 4); // warm-up: pipelines and bind groups for every row count exist afterwards
  await runStreams(engine, 1);
  for (const n of STREAMS) samples.set(key(name, n), []);
}
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...checkouts].reverse() : checkouts;
  for (const n of r % 2 ? [...STREAMS].reverse() : STREAMS)
    for (const { name, engine } of order) samples.get(key(name, n))!.push(await runStreams(engine, n));
  process.stderr.write(`round ${r + 1}/${rounds}\n`);
}
const cell = (v: number[], digits = 1) => {
  const s = spread(v);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
};
const info = checkouts[0]!.engine.info;
console.log(`${args.model}, ${info.activations} activations, ${tokens} tokens per stream, ${rounds} rounds; median (min–max)\n`);
const ratio = (a: Sample[], b: Sample[], pick: (s: Sample) => number) =>
  cell(
    a.map((x, i) => pick(x) / pick(b[i]!)),
    2,
  );
console.log(
  markdownTable(
    [
      ...(args.baseline ? ['checkout'] : []),
      'streams',
      'dispatches/step',
      'wall ms/step',
      'wall ÷ N=1 (per round)',
      'CPU ms/step',
      'CPU ÷ N=1 (per round)',
      'encode+submit ms',
      ...(args.baseline ? ['wall this ÷ baseline', 'CPU this ÷ baseline'] : []),
    ],
    checkouts.flatMap(({ name }) =>
      STREAMS.map((n) => {
        const s = samples.get(key(name, n))!;
        const one = samples.get(key(name, 1))!;
        const base = name === 'this' ? samples.get(key('baseline', n)) : undefined;
        return [
          ...(args.baseline ? [name] : []),
          n,
          median(s.map((x) => x.dispatches)),
          cell(s.map((x) => x.msPerStep)),
          cell(
            s.map((x, i) => x.msPerStep / one[i]!.msPerStep),
            2,
          ),
          cell(s.map((x) => x.cpuMsPerStep)),
          cell(
            s.map((x, i) => x.cpuMsPerStep / one[i]!.cpuMsPerStep),
            2,
          ),
          cell(s.map((x) => x.encodeMsPerStep)),
          ...(!args.baseline ? [] : base ? [ratio(s, base, (x) => x.msPerStep), ratio(s, base, (x) => x.cpuMsPerStep)] : ['', '']),
        ];
      }),
    ),
  ),
);
for (const { engine } of checkouts) await engine.dispose?.();
gpu.device.destroy();
