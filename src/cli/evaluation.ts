/**
 * What `lowbit perplexity`, `lowbit kl` and `lowbit imatrix` share: their common options, loading
 * a model for evaluation (every position's logits, chunk-sized prefill), reading and tokenizing
 * the text file as llama.cpp's tools do, and a progress line over chunks on a terminal.
 */
import { readFile, stat } from 'node:fs/promises';
import { loadEngine, type Engine } from '../engine/engine.ts';
import { readGGUF, type GGUFFile } from '../gguf/index.ts';
import { checkGpuMemoryBudget } from '../engine/memory-budget.ts';
import { GpuMemoryBudgetError } from '../errors.ts';
import { formatBytes } from '../format.ts';
import { LIMITS_TIERS, type GpuContext } from '../gpu/device.ts';
import { requestNodeGpu, type AdapterChoice } from '../gpu/device-node.ts';
import { modelConfigFromMetadata } from '../model/config.ts';
import { ACTIVATIONS_OPTIONS, type ActivationsOption } from '../kernels/matvec-q8.ts';
import { evaluationMaxBatch } from '../runtime/evaluate.ts';
import type { ForwardOptions } from '../runtime/forward.ts';
import { UsageError } from './errors.ts';
import { choiceOption } from './options.ts';
import { resolveModelSource, type ResolvedModel } from './model-arg.ts';
import { formatDuration } from './progress-line.ts';
import { escapeControl } from './terminal-text.ts';

/** Largest text file read: it is tokenized whole, as llama.cpp does (wikitext-2 is 1.3 MB, its training split 11 MB). */
export const MAX_TEXT_BYTES = 64 * 1024 * 1024;

/** Options every evaluation command takes, as parseArgs declares them. */
export const EVALUATION_OPTIONS = {
  file: { type: 'string', short: 'f' },
  ctx: { type: 'string', short: 'c' },
  chunks: { type: 'string' },
  json: { type: 'boolean' },
  adapter: { type: 'string' },
  limits: { type: 'string' },
  store: { type: 'string' },
  activations: { type: 'string' },
  'max-gpu-mb': { type: 'string' },
} as const;

export const EVALUATION_HELP = `  -f, --file FILE     the text to evaluate (UTF-8; tokenized whole, BOS first)
  -c, --ctx N         tokens per chunk (default 512, as llama.cpp)
  --chunks N          evaluate at most N chunks (default: all)
  --json              print one JSON object instead of text
  --adapter A         auto | hardware | swiftshader (default auto; also LOWBIT_ADAPTER)
  --limits L          adapter | default | mobile: GPU limits to run under
  --store DIR         model store directory (see lowbit pull --help)
  --activations A     auto | f32 | int8 | ggml (default auto): ggml rounds every linear's input
                      as llama.cpp's CPU backend does for the weight's type, so the figures of a
                      quantized model compare with llama-perplexity's own, rounding included
  --max-gpu-mb N      refuse, before allocating, a run whose models need more than N MiB of GPU
                      memory between them
  -h, --help          show this help
`;

/** The GPU of an evaluation command, from --adapter and --limits. */
export async function evaluationGpu(adapter: string | undefined, limitsArg: string | undefined): Promise<GpuContext> {
  const limits = choiceOption(limitsArg, '--limits', LIMITS_TIERS);
  if (adapter !== undefined && !['auto', 'hardware', 'swiftshader'].includes(adapter)) {
    throw new UsageError(`--adapter must be auto, hardware or swiftshader, got '${adapter}'`);
  }
  return requestNodeGpu({ adapter: adapter as AdapterChoice | undefined, limits });
}

/** --activations of an evaluation command (undefined: the engine's default). */
export function evaluationActivations(arg: string | undefined): ActivationsOption | undefined {
  return choiceOption(arg, '--activations', ACTIVATIONS_OPTIONS);
}

/** The text of --file: a regular file of at most MAX_TEXT_BYTES, valid UTF-8. */
export async function readTextFile(path: string | undefined, command: string): Promise<string> {
  if (path === undefined) throw new UsageError(`${command} needs a text file: --file text.txt`);
  const info = await stat(path);
  if (!info.isFile()) throw new UsageError(`--file: not a file: ${path}`);
  if (info.size > MAX_TEXT_BYTES) throw new UsageError(`--file: ${path} has ${info.size} bytes, over the ${MAX_TEXT_BYTES}-byte limit`);
  const bytes = await readFile(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`--file: ${path} is not UTF-8 text`);
  }
}

export interface EvaluationModel {
  engine: Engine;
  model: ResolvedModel;
  /** The BOS id each chunk starts with, or null when the vocabulary adds none. */
  bos: number | null;
  close(): Promise<void>;
}

/** What an evaluation load of one model asks of the engine, beyond the model and the GPU. */
interface EvaluationLoad {
  ctx: number;
  store?: string;
  activations?: ActivationsOption;
  /** The model's own budget (EngineLoadOptions.maxGpuBytes). */
  maxGpuBytes?: number;
  linearInputTap?: ForwardOptions['linearInputTap'];
}

/** The engine options of an evaluation load: every position's logits readable, chunk-sized prefill batches. */
function evaluationLoadOptions(header: GGUFFile, gpu: GpuContext, options: EvaluationLoad) {
  const vocab = modelConfigFromMetadata(header, header.tensor('token_embd.weight')?.dims[1]).vocabSize;
  return {
    gpu,
    contextSize: options.ctx,
    maxBatch: evaluationMaxBatch(gpu, vocab, options.ctx),
    activations: options.activations,
    maxGpuBytes: options.maxGpuBytes,
    evaluation: { allLogits: true, linearInputTap: options.linearInputTap },
  };
}

/**
 * Loads `arg` (a path or a stored model name) on `gpu` with a context of `ctx` tokens and every
 * position's logits readable, prefilling in evaluationMaxBatch's batches.
 */
export async function loadForEvaluation(arg: string, gpu: GpuContext, options: EvaluationLoad): Promise<EvaluationModel> {
  const model = await resolveModelSource(arg, options.store);
  try {
    const header = await readGGUF(model.source);
    const engine = await loadEngine(model.source, evaluationLoadOptions(header, gpu, options));
    const tok = engine.tokenizer;
    return {
      engine,
      model,
      bos: tok.addBos ? tok.bosId : null,
      close: async () => {
        await engine.dispose();
        await model.close();
      },
    };
  } catch (e) {
    await model.close();
    throw e;
  }
}

/**
 * GPU bytes of evaluation loads of `args` at once, from their headers, before any is loaded: a
 * GpuMemoryBudgetError naming each model's share when the sum is over `maxGpuBytes` (each load
 * still checks its own share against the device's limits and the budget).
 */
export async function checkEvaluationBudget(
  args: string[],
  gpu: GpuContext,
  options: EvaluationLoad & { maxGpuBytes: number },
): Promise<number> {
  const shares: { label: string; bytes: number }[] = [];
  for (const arg of args) {
    const model = await resolveModelSource(arg, options.store);
    try {
      const header = await readGGUF(model.source);
      const load = evaluationLoadOptions(header, gpu, options);
      const est = checkGpuMemoryBudget(header, {
        contextSize: load.contextSize,
        maxBatch: load.maxBatch,
        activations: load.activations,
        maxGpuBytes: load.maxGpuBytes,
        limits: gpu.limits,
        allLogits: load.evaluation.allLogits,
      });
      shares.push({ label: model.label, bytes: est.total });
    } finally {
      await model.close();
    }
  }
  const total = shares.reduce((sum, s) => sum + s.bytes, 0);
  if (total > options.maxGpuBytes) {
    const each = shares.map((s) => `${escapeControl(s.label)} ${formatBytes(s.bytes)}`).join(', ');
    throw new GpuMemoryBudgetError(
      `these ${shares.length} models are loaded at once and need ${total} bytes of GPU memory between them (${each}), ` +
        `over the budget of ${options.maxGpuBytes} bytes; compare fewer models per run, or use a smaller --ctx`,
      total,
      options.maxGpuBytes,
    );
  }
  return total;
}

/** Tokens of `text` as llama.cpp's tools tokenize it: BOS when the vocabulary adds one, control-token texts left as text. */
export function tokenizeText(m: EvaluationModel, text: string): number[] {
  return m.engine.tokenizer.encode(text, { addSpecial: true, parseSpecial: false });
}

/** A one-line progress bar over chunks, redrawn in place; silent unless stderr is a terminal. */
export class ChunkProgress {
  private readonly t0 = performance.now();
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = !!process.stderr.isTTY,
  ) {}

  update(done: number, detail = ''): void {
    if (!this.tty) return;
    const width = 24;
    const full = Math.round((done / this.total) * width);
    const elapsed = (performance.now() - this.t0) / 1000;
    const eta = done > 0 && done < this.total ? `, ETA ${formatDuration((elapsed / done) * (this.total - done))}` : '';
    this.out.write(
      `\r\x1b[2K${escapeControl(this.label)} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${done}/${this.total} chunks${detail}${eta}`,
    );
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
