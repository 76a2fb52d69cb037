/**
 * `lowbit perplexity <model> --file text.txt`: perplexity on the GPU by llama-perplexity's method
 * (non-overlapping chunks of --ctx tokens, BOS first, the second half of each chunk scored), so
 * its numbers compare with llama.cpp's row for row.
 */
import { evaluateChunks, planChunks } from '../runtime/evaluate.ts';
import { PerplexityAccumulator } from '../runtime/quality.ts';
import { UsageError } from './errors.ts';
import {
  ChunkProgress,
  EVALUATION_HELP,
  EVALUATION_OPTIONS,
  evaluationActivations,
  evaluationGpu,
  loadForEvaluation,
  readTextFile,
  tokenizeText,
} from './evaluation.ts';
import { maxGpuBytesOption, numberOption as num, parseCommand } from './options.ts';
import { escapeControl, terminalJson } from './terminal-text.ts';

const HELP = `Usage: lowbit perplexity <model> --file text.txt [options]

Perplexity of <model> (a .gguf path or a stored model) over the text, as llama-perplexity computes
it: the text is tokenized whole, cut into non-overlapping chunks of --ctx tokens whose first token
becomes BOS, and the last half of each chunk is scored.

Options:
${EVALUATION_HELP}`;

/** Default chunk size: llama-perplexity's default context. */
export const DEFAULT_EVAL_CTX = 512;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'perplexity',
    help: HELP,
    options: EVALUATION_OPTIONS,
    positionals: { min: 1, max: 1, text: 'needs exactly one model' },
  });
  if (!parsed) return 0;
  const v = parsed.values;
  const ctx = checkedCtx(num(v.ctx, '--ctx', DEFAULT_EVAL_CTX));
  const maxChunks = num(v.chunks, '--chunks');
  const activations = evaluationActivations(v.activations);
  const text = await readTextFile(v.file, 'perplexity');
  const gpu = await evaluationGpu(v.adapter, v.limits);
  try {
    const m = await loadForEvaluation(parsed.positionals[0]!, gpu, {
      ctx,
      store: v.store,
      activations,
      maxGpuBytes: maxGpuBytesOption(v['max-gpu-mb']),
    });
    try {
      const tokens = tokenizeText(m, text);
      const plan = planChunks(tokens.length, ctx, maxChunks);
      const acc = new PerplexityAccumulator();
      const vocab = m.engine.config.vocabSize;
      const progress = new ChunkProgress('perplexity', plan.chunks);
      const t0 = performance.now();
      for await (const chunk of evaluateChunks(m.engine.evaluator(), tokens, plan, m.bos)) {
        acc.add(chunk.logits, chunk.targets, vocab);
        progress.update(chunk.index + 1, `, PPL ${acc.result().ppl.toFixed(4)}`);
      }
      progress.done();
      const seconds = (performance.now() - t0) / 1000;
      const r = acc.result();
      if (v.json) {
        process.stdout.write(
          terminalJson({
            model: m.model.label,
            file: v.file,
            ctx,
            chunks: plan.chunks,
            textTokens: tokens.length,
            scoredTokens: r.tokens,
            ppl: r.ppl,
            pplError: r.pplError,
            nll: r.nll,
            seconds,
          }) + '\n',
        );
      } else {
        process.stdout.write(
          `${escapeControl(m.model.label)}: PPL = ${r.ppl.toFixed(4)} +/- ${r.pplError.toFixed(5)} ` +
            `(${plan.chunks} chunks of ${ctx}, ${r.tokens} tokens scored, ${seconds.toFixed(1)} s)\n`,
        );
      }
    } finally {
      await m.close();
    }
  } finally {
    gpu.device.destroy();
  }
  return 0;
}

/** --ctx for evaluation: half of it is context for the scored half, so at least 4 tokens. */
export function checkedCtx(ctx: number): number {
  if (ctx < 4) throw new UsageError(`--ctx must be at least 4 tokens for evaluation, got ${ctx}`);
  return ctx;
}
