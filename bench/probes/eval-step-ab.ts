/**
 * One evaluation step (a whole chunk prefilled, every position's logits written, as lowbit
 * perplexity and kl run it) on this checkout and on another (--checkout DIR, e.g. a worktree of
 * main), the two engines loaded in one process on one device and timed alternately, so a busy
 * machine's drift falls on both alike. Prints each side's median ms per step and the per-round
 * ratio (other ÷ this: how many times faster this checkout is).
 *
 *   node --import ./src/node/register.js bench/probes/eval-step-ab.ts --checkout DIR
 *     [--model FILE]... [--ctx 256] [--rounds 7] [--activations auto|f32|int8|ggml]
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadEngine } from '../../src/engine/engine.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { isActivationsOption } from '../../src/kernels/matvec-q8.ts';
import { pairedRatios, spread } from '../../src/stats.ts';
import { demoModel } from '../../test/helpers/fixtures.ts';

const { values: args } = parseArgs({
  options: {
    checkout: { type: 'string' },
    model: { type: 'string', multiple: true },
    ctx: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '7' },
    activations: { type: 'string', default: 'auto' },
  },
});
if (!args.checkout) throw new RangeError('--checkout DIR: the other checkout to compare with');
const ctx = Number(args.ctx);
const rounds = Number(args.rounds);
if (!Number.isSafeInteger(ctx) || ctx < 4 || ctx > 4096) throw new RangeError(`--ctx: 4–4096, got ${args.ctx}`);
if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 50) throw new RangeError(`--rounds: 1–50, got ${args.rounds}`);
if (!isActivationsOption(args.activations) && args.activations !== 'ggml')
  throw new RangeError(`--activations: auto, f32, int8 or ggml, got ${args.activations}`);

const other = ((await import(pathToFileURL(resolve(args.checkout, 'src/engine/engine.ts')).href)) as { loadEngine: typeof loadEngine })
  .loadEngine;
const gpu = await requestNodeGpu({ warn: null });
const tokens = Array.from({ length: ctx }, (_, i) => 1 + ((i * 7) % 200));
for (const model of args.model ?? [demoModel]) {
  const evaluators = [];
  for (const load of [loadEngine, other]) {
    const source = await FileByteSource.open(model);
    const engine = await load(source, {
      gpu,
      contextSize: ctx,
      maxBatch: ctx,
      activations: args.activations as never,
      evaluation: { allLogits: true },
    });
    evaluators.push(engine.evaluator());
  }
  const ms: [number[], number[]] = [[], []];
  for (let r = -1; r < rounds; r++) {
    for (const i of r % 2 ? [1, 0] : [0, 1]) {
      const t0 = performance.now();
      await evaluators[i]!.evaluate(tokens, () => undefined, { outputFrom: ctx >> 1 });
      if (r >= 0) ms[i]!.push(performance.now() - t0);
    }
  }
  const [mine, theirs] = ms.map((m) => spread(m));
  const ratio = spread(pairedRatios(ms[1], ms[0]));
  const f = (s: { median: number; min: number; max: number }, d = 0) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
  console.log(
    `${model.split('/').pop()}: this ${f(mine!)} ms, ${args.checkout} ${f(theirs!)} ms per ${ctx}-token step; ${args.checkout} ÷ this per round ${f(ratio, 2)}`,
  );
}
gpu.device.destroy();
