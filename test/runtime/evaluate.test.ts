// Evaluation on the GPU (issue 12 items 2–4): every position's logits, llama-perplexity's chunks
// and the imatrix statistics, each checked against the plain CPU forward pass of
// test/helpers/cpu-forward.ts, which shares no kernel with the GPU runtime.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadEngine, type Engine } from '../../src/engine/engine.ts';
import { ContextOverflowError } from '../../src/errors.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { importanceWeights } from '../../src/quant/imatrix.ts';
import { ActivationStats } from '../../src/runtime/activation-stats.ts';
import { chunkTokens, evaluateChunks, EvaluationError, planChunks, type Evaluator } from '../../src/runtime/evaluate.ts';
import { logSumExp, PerplexityAccumulator } from '../../src/runtime/quality.ts';
import { CpuModel } from '../helpers/cpu-forward.ts';
import { demoModel } from '../helpers/fixtures.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';

/** Building the prefill pipelines on SwiftShader takes minutes when the machine is busy. */
const SLOW = 600_000;
const CTX = 48;
/** Smaller than a chunk and not dividing it: steps end mid-chunk and the scored rows start mid-step. */
const MAX_BATCH = 20;

let engine: Engine;
let evaluator: Evaluator;
let stats: ActivationStats;
let cpu: CpuModel;
let text: number[];

beforeAll(async () => {
  const gpu = await testGpu();
  stats = new ActivationStats(gpu);
  const source = await FileByteSource.open(demoModel);
  try {
    engine = await loadEngine(source, {
      gpu,
      contextSize: CTX,
      maxBatch: MAX_BATCH,
      evaluation: { allLogits: true, linearInputTap: stats.tap },
    });
  } finally {
    await source.close();
  }
  evaluator = engine.evaluator();
  cpu = await CpuModel.load(demoModel);
  const story = 'One day, a little girl named Lily went to the park with her mom. She saw a big red ball and wanted to play. ';
  text = engine.tokenizer.encode(story.repeat(4), { addSpecial: true, parseSpecial: false });
}, SLOW);

afterAll(async () => {
  evaluator?.destroy();
  stats?.destroy();
  await engine?.dispose();
  await releaseTestGpu();
}, SLOW);

/** CPU logits of every position of `tokens`, from position 0. */
function cpuLogits(tokens: readonly number[]): Float32Array[] {
  cpu.reset();
  return tokens.map((t) => cpu.step(t));
}

describe('Evaluator', () => {
  test(
    'every row read back is the logits of its position (CPU reference), from outputFrom on',
    async () => {
      const tokens = text.slice(0, CTX);
      const want = cpuLogits(tokens);
      const vocab = evaluator.vocabSize;
      const seen: number[] = [];
      let worst = 0;
      await evaluator.evaluate(
        tokens,
        (r) => {
          for (let i = 0; i < r.rows; i++) {
            const pos = r.pos0 + i;
            seen.push(pos);
            const ref = want[pos]!;
            for (let j = 0; j < vocab; j++) worst = Math.max(worst, Math.abs(r.logits[i * vocab + j]! - ref[j]!));
          }
        },
        { outputFrom: 13 },
      );
      expect(seen).toEqual(Array.from({ length: CTX - 13 }, (_, i) => 13 + i));
      expect(worst).toBeLessThan(2e-3);
      expect(worst).toBeGreaterThan(0); // it did compare numbers
    },
    SLOW,
  );

  test('hostile input: an id outside the vocabulary, too many tokens, nothing', async () => {
    const vocab = evaluator.vocabSize;
    await expect(evaluator.evaluate([1, vocab], () => undefined)).rejects.toThrow(EvaluationError);
    await expect(evaluator.evaluate([1, -1], () => undefined)).rejects.toThrow(/not a token id/);
    await expect(evaluator.evaluate(new Array(CTX + 1).fill(1), () => undefined)).rejects.toThrow(ContextOverflowError);
    await expect(evaluator.evaluate([], () => undefined)).rejects.toThrow(EvaluationError);
  });
});

describe("llama-perplexity's chunks", () => {
  test('planChunks: ⌊n/ctx⌋ chunks, second half scored, at least two chunks of text', () => {
    expect(planChunks(89_669, 256)).toEqual({ ctx: 256, chunks: 350, first: 128, scoredPerChunk: 127 });
    expect(planChunks(1000, 256, 2).chunks).toBe(2);
    expect(planChunks(1000, 255).first).toBe(127);
    expect(() => planChunks(511, 256)).toThrow(EvaluationError);
    expect(() => planChunks(511, 256)).toThrow(/at least 512/);
  });

  test("chunkTokens: the chunk's first token becomes BOS; the text is not changed", () => {
    const tokens = Array.from({ length: 40 }, (_, i) => 100 + i);
    const plan = planChunks(tokens.length, 16);
    expect(chunkTokens(tokens, plan, 1, 1)).toEqual([1, ...tokens.slice(17, 32)]);
    expect(chunkTokens(tokens, plan, 1, null)).toEqual(tokens.slice(16, 32));
    expect(tokens[16]).toBe(116);
  });

  test(
    'perplexity over chunks equals the CPU reference of the same method',
    async () => {
      const ctx = 24;
      const plan = planChunks(text.length, ctx, 2);
      const bos = engine.tokenizer.bosId;
      const gpuPpl = new PerplexityAccumulator();
      const targetsSeen: number[][] = [];
      for await (const c of evaluateChunks(evaluator, text, plan, bos)) {
        gpuPpl.add(c.logits, c.targets, evaluator.vocabSize);
        targetsSeen.push([...c.targets]);
      }
      // Reference: BOS + the chunk's other tokens, positions ctx/2 … ctx-2 predicting the next.
      let nll = 0;
      let count = 0;
      for (let i = 0; i < plan.chunks; i++) {
        const input = [bos!, ...text.slice(i * ctx + 1, (i + 1) * ctx)];
        const rows = cpuLogits(input);
        const targets: number[] = [];
        for (let p = ctx / 2; p < ctx - 1; p++) {
          const next = text[i * ctx + p + 1]!;
          targets.push(next);
          nll += logSumExp(rows[p]!, 0, rows[p]!.length).lse - rows[p]![next]!;
          count++;
        }
        expect(targetsSeen[i]).toEqual(targets);
      }
      const r = gpuPpl.result();
      expect(r.tokens).toBe(count);
      expect(r.ppl).toBeCloseTo(Math.exp(nll / count), 3);
    },
    SLOW,
  );
});

describe('ActivationStats (imatrix)', () => {
  test(
    'Σx² and Σx per column of every block linear equal the CPU inputs; q/k/v share theirs',
    async () => {
      const d = engine.evaluator();
      stats.reset(); // a fresh count: earlier tests ran through the same tap
      const tokens = text.slice(0, 30);
      await d.evaluate(tokens, () => undefined, { outputFrom: 29 });
      stats.addTokens(tokens.length);
      const got = await stats.read({ datasets: ['t'], chunkCount: 1, chunkSize: 30 });

      const want = new Map<string, { sum2: Float64Array; sum: Float64Array }>();
      cpu.onLinearInput = (name, x) => {
        if (!name.startsWith('blk.')) return;
        let e = want.get(name);
        if (!e) want.set(name, (e = { sum2: new Float64Array(x.length), sum: new Float64Array(x.length) }));
        for (let j = 0; j < x.length; j++) {
          e.sum2[j] = e.sum2[j]! + x[j]! * x[j]!;
          e.sum[j] = e.sum[j]! + x[j]!;
        }
      };
      try {
        cpuLogits(tokens);
      } finally {
        cpu.onLinearInput = undefined;
      }
      expect([...got.entries.keys()].sort()).toEqual([...want.keys()].sort());
      expect(got.entries.size).toBe(7 * engine.config.nLayer);
      for (const [name, w] of want) {
        const e = got.entries.get(name)!;
        expect(e.counts).toEqual([30]);
        for (let j = 0; j < w.sum2.length; j++) {
          expect(Math.abs(e.sum2[j]! - w.sum2[j]!), `${name} Σx²[${j}]`).toBeLessThanOrEqual(1e-3 * Math.max(1, w.sum2[j]!));
          expect(Math.abs(e.sum![j]! - w.sum[j]!), `${name} Σx[${j}]`).toBeLessThanOrEqual(2e-3 * Math.max(1, Math.abs(w.sum2[j]!)));
        }
      }
      expect(got.entries.get('blk.1.attn_k.weight')!.sum2).toEqual(got.entries.get('blk.1.attn_q.weight')!.sum2);
      expect(importanceWeights(got, 'blk.0.ffn_down.weight')![5]).toBeCloseTo(want.get('blk.0.ffn_down.weight')!.sum2[5]! / 30, 4);
    },
    SLOW,
  );
});
