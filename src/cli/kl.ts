/**
 * `lowbit kl <base> <quant> [<quant2> …] --file text.txt`: how far quantized models' next-token
 * distributions are from their base model's over a text, as llama-perplexity --kl-divergence
 * reports it (mean KL(base ‖ quant), same top token, Δp percentiles, both perplexities). All
 * models are loaded on the same GPU and evaluated chunk by chunk in step, so no logits file is
 * needed, memory stays at one chunk of logits per model, and the base is evaluated once however
 * many models are compared with it.
 */
import { checkSameVocabulary, compareChunksWithEach } from '../runtime/compare.ts';
import { evaluateChunks, planChunks } from '../runtime/evaluate.ts';
import type { KlReport } from '../runtime/quality.ts';
import {
  checkEvaluationBudget,
  ChunkProgress,
  EVALUATION_HELP,
  EVALUATION_OPTIONS,
  evaluationActivations,
  evaluationGpu,
  loadForEvaluation,
  readTextFile,
  tokenizeText,
  type EvaluationModel,
} from './evaluation.ts';
import { maxGpuBytesOption, numberOption as num, parseCommand } from './options.ts';
import { checkedCtx, DEFAULT_EVAL_CTX } from './perplexity.ts';
import { escapeControl, terminalJson } from './terminal-text.ts';

/** Models one run compares with its base: each is loaded at once, so this bounds the GPU memory a command line can ask for. */
export const MAX_COMPARED_MODELS = 16;

const HELP = `Usage: lowbit kl <base-model> <quantized-model> [<quantized-model> …] --file text.txt [options]

KL divergence of each quantized model's next-token distributions from the base model's over the
text, chunked as lowbit perplexity (and llama-perplexity --kl-divergence) chunks it. The models
must share a vocabulary; the text is tokenized with the base model's. With several quantized
models (up to ${MAX_COMPARED_MODELS}), all are loaded at once and the base is evaluated once for all of
them; the reports follow in the order given (--json: one JSON object per line).

Options:
${EVALUATION_HELP}`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'kl',
    help: HELP,
    options: EVALUATION_OPTIONS,
    positionals: {
      min: 2,
      max: 1 + MAX_COMPARED_MODELS,
      text: `needs a base model and one to ${MAX_COMPARED_MODELS} quantized models`,
    },
  });
  if (!parsed) return 0;
  const v = parsed.values;
  const ctx = checkedCtx(num(v.ctx, '--ctx', DEFAULT_EVAL_CTX));
  const maxChunks = num(v.chunks, '--chunks');
  const activations = evaluationActivations(v.activations);
  const text = await readTextFile(v.file, 'kl');
  const [baseArg, ...quantArgs] = parsed.positionals as [string, ...string[]];
  const maxGpuBytes = maxGpuBytesOption(v['max-gpu-mb']);
  const gpu = await evaluationGpu(v.adapter, v.limits);
  const opened: EvaluationModel[] = [];
  try {
    // Every model stays loaded for the whole run, so the budget is for their sum, checked from
    // the headers before the first upload.
    if (maxGpuBytes !== undefined) await checkEvaluationBudget(parsed.positionals, gpu, { ctx, store: v.store, activations, maxGpuBytes });
    const load = async (arg: string) => {
      const m = await loadForEvaluation(arg, gpu, { ctx, store: v.store, activations, maxGpuBytes });
      opened.push(m);
      return m;
    };
    const base = await load(baseArg);
    const quants: EvaluationModel[] = [];
    for (const arg of quantArgs) {
      const quant = await load(arg);
      checkSameVocabulary(comparedModel(base), comparedModel(quant));
      quants.push(quant);
    }
    const tokens = tokenizeText(base, text);
    const plan = planChunks(tokens.length, ctx, maxChunks);
    const vocab = base.engine.config.vocabSize;
    const progress = new ChunkProgress('kl', plan.chunks);
    const t0 = performance.now();
    const reports = await compareChunksWithEach(
      evaluateChunks(base.engine.evaluator(), tokens, plan, base.bos),
      quants.map((q) => evaluateChunks(q.engine.evaluator(), tokens, plan, base.bos)),
      vocab,
      (index, accs) => progress.update(index + 1, `, KLD ${accs.map((acc) => acc.report().kld.mean.toFixed(6)).join(' ')}`),
    );
    progress.done();
    const seconds = (performance.now() - t0) / 1000;
    reports.forEach((r, i) => {
      const quant = quants[i]!.model.label;
      if (v.json) {
        process.stdout.write(terminalJson({ base: base.model.label, quant, file: v.file, ctx, chunks: plan.chunks, seconds, ...r }) + '\n');
      } else {
        process.stdout.write((i ? '\n' : '') + formatKlReport(r, base.model.label, quant, plan.chunks, ctx));
      }
    });
  } finally {
    for (const m of opened.reverse()) await m.close();
    gpu.device.destroy();
  }
  return 0;
}

function comparedModel(m: EvaluationModel) {
  return { label: m.model.label, vocabSize: m.engine.config.vocabSize, tokenizer: m.engine.tokenizer };
}

const pct = (x: number, digits = 3) => `${(100 * x).toFixed(digits)}%`;

/** The report in llama-perplexity --kl-divergence's layout and precision. */
export function formatKlReport(r: KlReport, baseLabel: string, quantLabel: string, chunks: number, ctx: number): string {
  const f6 = (x: number) => x.toFixed(6);
  const lines = [
    `base:  ${escapeControl(baseLabel)}`,
    `quant: ${escapeControl(quantLabel)}`,
    `${chunks} chunks of ${ctx} tokens, ${r.tokens} tokens scored`,
    '',
    '====== Perplexity statistics ======',
    `Mean PPL(Q)                   : ${f6(r.ppl.quant)} ± ${f6(r.ppl.quantError)}`,
    `Mean PPL(base)                : ${f6(r.ppl.base)} ± ${f6(r.ppl.baseError)}`,
    `Cor(ln(PPL(Q)), ln(PPL(base))): ${pct(r.lnPplRatio.correlation, 2)}`,
    `Mean ln(PPL(Q)/PPL(base))     : ${f6(r.lnPplRatio.mean)} ± ${f6(r.lnPplRatio.error)}`,
    '',
    '====== KL divergence statistics ======',
    `Mean    KLD: ${f6(r.kld.mean)} ± ${f6(r.kld.error)}`,
    `Maximum KLD: ${f6(r.kld.max)}`,
    ...Object.entries(r.kld.percentiles)
      .slice(0, 4)
      .map(([k, x]) => `${k.padEnd(7)} KLD: ${f6(x)}`),
    `Median  KLD: ${f6(r.kld.median)}`,
    ...Object.entries(r.kld.percentiles)
      .slice(4)
      .map(([k, x]) => `${k.padEnd(7)} KLD: ${f6(x)}`),
    `Minimum KLD: ${f6(r.kld.min)}`,
    '',
    '====== Token probability statistics ======',
    `Mean    Δp: ${pct(r.deltaP.mean)} ± ${pct(r.deltaP.error)}`,
    `Maximum Δp: ${pct(r.deltaP.max)}`,
    ...Object.entries(r.deltaP.percentiles)
      .slice(0, 5)
      .map(([k, x]) => `${k.padEnd(7)} Δp: ${pct(x)}`),
    `Median  Δp: ${pct(r.deltaP.median)}`,
    ...Object.entries(r.deltaP.percentiles)
      .slice(5)
      .map(([k, x]) => `${k.padEnd(7)} Δp: ${pct(x)}`),
    `Minimum Δp: ${pct(r.deltaP.min)}`,
    `RMS Δp    : ${pct(r.deltaP.rms)} ± ${pct(r.deltaP.rmsError)}`,
    `Same top p: ${pct(r.sameTop.fraction)} ± ${pct(r.sameTop.error)}`,
    '',
  ];
  return lines.join('\n');
}
