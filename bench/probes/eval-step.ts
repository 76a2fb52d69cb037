/**
 * One evaluation step (a whole chunk prefilled, every position's logits written, as lowbit
 * perplexity and kl run it) with each prefill attention layout, timed interleaved in one process:
 * the same model loaded twice, `tiled` and `rows` forced through kernelVariants, each round timing
 * one step of each. Shows what the attention layout is worth end to end.
 *
 *   node --import ./src/node/register.js bench/probes/eval-step.ts [--model FILE] [--ctx 256] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { loadEngine } from '../../src/engine/engine.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { ATTENTION_LAYOUTS } from '../../src/kernels/attention.ts';
import { pairedRatios, spread } from '../../src/stats.ts';
import { demoModel } from '../../test/helpers/fixtures.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: demoModel },
    ctx: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '5' },
  },
});
const ctx = Number(args.ctx);
const rounds = Number(args.rounds);
if (!Number.isSafeInteger(ctx) || ctx < 4 || ctx > 4096) throw new RangeError(`--ctx: 4–4096, got ${args.ctx}`);
if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 50) throw new RangeError(`--rounds: 1–50, got ${args.rounds}`);

const gpu = await requestNodeGpu({});
const layouts = ATTENTION_LAYOUTS;
const evaluators = [];
for (const attention of layouts) {
  const source = await FileByteSource.open(args.model);
  const engine = await loadEngine(source, {
    gpu,
    contextSize: ctx,
    maxBatch: ctx,
    kernelVariants: { attention },
    evaluation: { allLogits: true },
  });
  evaluators.push(engine.evaluator());
}
const tokens = Array.from({ length: ctx }, (_, i) => 1 + ((i * 7) % 200));
const ms: number[][] = layouts.map(() => []);
for (let r = -1; r < rounds; r++) {
  for (let i = 0; i < evaluators.length; i++) {
    const t0 = performance.now();
    await evaluators[i]!.evaluate(tokens, () => undefined, { outputFrom: ctx / 2 });
    if (r >= 0) ms[i]!.push(performance.now() - t0);
  }
}
const fmt = (s: { median: number; min: number; max: number }, d = 0) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
for (let i = 0; i < layouts.length; i++) console.log(`${layouts[i]}: ${fmt(spread(ms[i]!))} ms per ${ctx}-token step`);
console.log(`rows ÷ tiled, per round: ${fmt(spread(pairedRatios(ms[1]!, ms[0]!)), 2)}`);
gpu.device.destroy();
