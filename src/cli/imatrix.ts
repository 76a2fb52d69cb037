/**
 * `lowbit imatrix <model> --file text.txt -o imatrix.gguf`: an importance matrix collected on the
 * GPU over a text, as llama-imatrix collects it (the same chunks, BOS first, every `blk.*`
 * linear's input Σx² per column), written in llama.cpp's GGUF imatrix format (or its legacy .dat
 * with --output-format dat) for `llama-quantize --imatrix` and `lowbit quantize --imatrix`.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { writeGGUFToFile } from '../gguf/write-file.ts';
import { encodeLegacyImatrix, imatrixGGUFSpec } from '../quant/imatrix.ts';
import { ActivationStats } from '../runtime/activation-stats.ts';
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
import { checkedCtx, DEFAULT_EVAL_CTX } from './perplexity.ts';
import { escapeControl, terminalJson } from './terminal-text.ts';

const HELP = `Usage: lowbit imatrix <model> --file text.txt [-o imatrix.gguf] [options]

Collects per-column activation statistics (Σx², Σx and token counts) of every block linear's
input while <model> evaluates the text, chunked as llama-imatrix chunks it, and writes them in
llama.cpp's imatrix format. Also prints the text's perplexity, as llama-imatrix does.

Options:
  -o, --output FILE   where to write (default imatrix.gguf); written whole or not at all
  --output-format F   gguf (default; current llama.cpp) or dat (legacy llama.cpp format)
${EVALUATION_HELP}`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'imatrix',
    help: HELP,
    options: { ...EVALUATION_OPTIONS, output: { type: 'string', short: 'o' }, 'output-format': { type: 'string' } },
    positionals: { min: 1, max: 1, text: 'needs exactly one model' },
  });
  if (!parsed) return 0;
  const v = parsed.values;
  const format = v['output-format'] ?? 'gguf';
  if (format !== 'gguf' && format !== 'dat') throw new UsageError(`--output-format must be gguf or dat, got '${format}'`);
  const output = v.output ?? 'imatrix.gguf';
  const ctx = checkedCtx(num(v.ctx, '--ctx', DEFAULT_EVAL_CTX));
  const maxChunks = num(v.chunks, '--chunks');
  const activations = evaluationActivations(v.activations);
  const text = await readTextFile(v.file, 'imatrix');
  const gpu = await evaluationGpu(v.adapter, v.limits);
  const stats = new ActivationStats(gpu);
  try {
    const m = await loadForEvaluation(parsed.positionals[0]!, gpu, {
      ctx,
      store: v.store,
      activations,
      maxGpuBytes: maxGpuBytesOption(v['max-gpu-mb']),
      linearInputTap: stats.tap,
    });
    try {
      const tokens = tokenizeText(m, text);
      const plan = planChunks(tokens.length, ctx, maxChunks);
      const ppl = new PerplexityAccumulator();
      const vocab = m.engine.config.vocabSize;
      const progress = new ChunkProgress('imatrix', plan.chunks);
      const t0 = performance.now();
      for await (const chunk of evaluateChunks(m.engine.evaluator(), tokens, plan, m.bos)) {
        stats.addTokens(plan.ctx);
        ppl.add(chunk.logits, chunk.targets, vocab);
        progress.update(chunk.index + 1);
      }
      progress.done();
      const matrix = await stats.read({ datasets: [basename(v.file!)], chunkCount: plan.chunks, chunkSize: ctx });
      // A temporary file renamed at the end: an interrupted run never leaves a half-written matrix.
      const tmp = `${output}.tmp-${process.pid}`;
      try {
        if (format === 'gguf') await writeGGUFToFile(tmp, imatrixGGUFSpec(matrix));
        else await writeFile(tmp, encodeLegacyImatrix(matrix));
        await rename(tmp, output);
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
      const r = ppl.result();
      const seconds = (performance.now() - t0) / 1000;
      if (v.json) {
        process.stdout.write(
          terminalJson({
            model: m.model.label,
            file: v.file,
            output,
            format,
            ctx,
            chunks: plan.chunks,
            entries: matrix.entries.size,
            tokens: plan.chunks * ctx,
            ppl: r.ppl,
            seconds,
          }) + '\n',
        );
      } else {
        process.stdout.write(
          `${escapeControl(output)}: ${matrix.entries.size} weights, ${plan.chunks} chunks of ${ctx} tokens (${format}); ` +
            `PPL = ${r.ppl.toFixed(4)} (${seconds.toFixed(1)} s)\n`,
        );
      }
    } finally {
      await m.close();
    }
  } finally {
    stats.destroy();
    gpu.device.destroy();
  }
  return 0;
}
