/**
 * The lab's work, without any UI: quantize a base model to each chosen mixture into the model
 * store (on the quantizer pool), then measure each result on the GPU against the base over one
 * text, by llama-perplexity's method (chunks, BOS first, second half scored): PPL, KL(base ‖ quant),
 * same top-1, bits per weight and file size. Files the user opens for comparison (IQ types, files
 * quantized elsewhere) are measured the same way when lowbit can run them, and listed with their
 * size and the reason when it cannot.
 *
 * Everything the user hands in is checked before any work: a file that is not GGUF, a base that
 * is already below a target, results that would not fit the store, each get a message naming
 * the file and the limit.
 */
import { loadEngine, type Engine } from '../engine/engine.ts';
import { checkTensorTypes } from '../engine/check-model.ts';
import { LowbitError, QuantizeError } from '../errors.ts';
import type { GGUFFile } from '../gguf/file.ts';
import { readGGUF } from '../gguf/reader.ts';
import { planGGUF } from '../gguf/writer.ts';
import type { GpuContext } from '../gpu/device.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { modelConfigFromMetadata } from '../model/config.ts';
import type { FileType } from '../quant/mixture.ts';
import { quantizeModel } from '../quant/quantize-model.ts';
import type { QuantizeRunner } from '../quant/quantize-stream.ts';
import { checkSameVocabulary, compareChunks } from '../runtime/compare.ts';
import { evaluateChunks, evaluationMaxBatch, planChunks, type ChunkPlan, type ScoredChunk } from '../runtime/evaluate.ts';
import { PerplexityAccumulator } from '../runtime/quality.ts';
import { openStoredModel, type StoredModelSource } from '../storage/model-source.ts';
import { ensureSpace } from '../storage/quota.ts';
import { defaultModelName, type ModelStore } from '../storage/store.ts';
import { fileBitsPerWeight, type LabRow } from './results.ts';
import { storeQuantizedModel } from './store-output.ts';

/** Base logits kept in memory for replay against every result, up to this size; beyond, the base is evaluated again alongside each. */
const BASE_LOGITS_CACHE_BYTES = 256 * 1024 * 1024;

export interface LabSettings {
  /** The text to measure over (UTF-8). */
  text: string;
  /** Tokens per chunk. */
  ctx: number;
  /** Chunks evaluated at most. */
  chunks: number;
}

export interface LabModel {
  /** Shown in the table and used to name the results. */
  label: string;
  source: ByteSource & { close?(): Promise<void> };
}

export interface LabDeps {
  store: ModelStore;
  /** Runs the quantize jobs (the page's Web Worker pool), asked for when a run starts. */
  runner: () => QuantizeRunner;
  /** The GPU, asked for only when there is something to evaluate. */
  gpu: () => Promise<GpuContext>;
  /** Called whenever a row changes (the rows are mutated in place). */
  onChange: () => void;
}

/** The base model as loaded for evaluation, kept between runs so opened files compare against it. */
interface LoadedBase {
  model: LabModel;
  file: GGUFFile;
  gpu: GpuContext;
  engine: Engine;
  tokens: number[];
  plan: ChunkPlan;
  bos: number | null;
  /** The base's scored chunks, when small enough to keep. */
  chunks: ScoredChunk[] | null;
  settings: LabSettings;
}

/** A model name's stem: the file name without .gguf (and without a trailing F32/F16/BF16). */
export function modelStem(label: string): string {
  return defaultModelName(label)
    .replace(/\.gguf$/i, '')
    .replace(/[-_.](F32|F16|BF16|f32|f16|bf16)$/, '');
}

/**
 * The store name of `base` quantized to `type`. "-lab-" keeps it apart from a published file of
 * the same model and type (the demo's bundled Q4_K_M is one), which the lab must not replace.
 */
export function resultName(baseLabel: string, type: FileType): string {
  return `${modelStem(baseLabel)}-lab-${type.name}.gguf`;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? (e instanceof LowbitError ? e.message : `${e.name}: ${e.message}`) : String(e);
}

function isAbort(e: unknown, signal: AbortSignal | undefined): boolean {
  return !!signal?.aborted || (e as { name?: string })?.name === 'AbortError';
}

export class LabRun {
  readonly rows: LabRow[] = [];
  private base: LoadedBase | null = null;

  constructor(private readonly deps: LabDeps) {}

  /**
   * Quantizes `model` to every type and measures each result. Rows are added for the base and
   * each type at once; a type that cannot be made from this base gets its reason and is skipped.
   * Throws only for the base itself (not a GGUF file, cannot run, text too short).
   */
  async run(model: LabModel, types: readonly FileType[], settings: LabSettings, signal?: AbortSignal): Promise<void> {
    await this.releaseBase();
    this.rows.length = 0;
    try {
      await this.runOn(model, types, settings, signal);
    } catch (e) {
      // Once loaded, the base keeps its source open for comparisons; before that it is ours to close.
      if (this.base?.model !== model) await model.source.close?.();
      throw e;
    }
  }

  private async runOn(model: LabModel, types: readonly FileType[], settings: LabSettings, signal?: AbortSignal): Promise<void> {
    const file = await readGGUF(model.source, { signal });
    const baseRow: LabRow = {
      label: model.label,
      kind: 'base',
      status: 'queued',
      bytes: model.source.size,
      bitsPerWeight: fileBitsPerWeight(file),
    };
    this.rows.push(baseRow);
    // Every type planned (and sized) before any work: refusals show at once, and the store is
    // checked for room for all the results together.
    const jobs: { row: LabRow; type: FileType; name: string }[] = [];
    let outputBytes = 0;
    for (const type of types) {
      const row: LabRow = { label: type.name, kind: 'quantized', status: 'queued' };
      this.rows.push(row);
      try {
        const q = quantizeModel(file, model.source, { fileType: type, runner: this.deps.runner() });
        const planned = planGGUF(q.spec).totalSize;
        row.bytes = planned;
        outputBytes += planned;
        jobs.push({ row, type, name: resultName(model.label, type) });
      } catch (e) {
        row.status = 'error';
        row.message = messageOf(e);
      }
    }
    this.deps.onChange();
    await ensureSpace(this.deps.store, `${jobs.length} quantized model(s)`, outputBytes);

    try {
      baseRow.status = 'evaluating';
      this.deps.onChange();
      const base = await this.loadBase(model, file, settings, signal);
      const acc = new PerplexityAccumulator();
      const vocab = base.engine.config.vocabSize;
      const keep = base.plan.chunks * (base.plan.ctx - base.plan.first) * vocab * 4 <= BASE_LOGITS_CACHE_BYTES;
      const kept: ScoredChunk[] = [];
      for await (const chunk of evaluateChunks(base.engine.evaluator(), base.tokens, base.plan, base.bos, signal)) {
        acc.add(chunk.logits, chunk.targets, vocab);
        if (keep) kept.push(chunk);
        baseRow.progress = (chunk.index + 1) / base.plan.chunks;
        this.deps.onChange();
      }
      base.chunks = keep ? kept : null;
      const r = acc.result();
      Object.assign(baseRow, {
        status: 'done',
        ppl: r.ppl,
        pplError: r.pplError,
        kl: 0,
        sameTop1: 1,
        tokens: r.tokens,
        progress: undefined,
      });
      this.deps.onChange();
    } catch (e) {
      baseRow.status = isAbort(e, signal) ? 'cancelled' : 'error';
      baseRow.message = messageOf(e);
      for (const j of jobs) j.row.status = 'cancelled';
      this.deps.onChange();
      throw e;
    }

    for (let i = 0; i < jobs.length; i++) {
      const { row, type, name } = jobs[i]!;
      try {
        await this.quantizeOne(file, model, row, type, name, signal);
        await this.measure(row, () => openStoredModel(this.deps.store, name), name, signal);
      } catch (e) {
        if (isAbort(e, signal)) {
          for (const j of jobs.slice(i)) {
            if (j.row.status !== 'done') j.row.status = 'cancelled';
          }
          this.deps.onChange();
          throw e;
        }
        row.status = 'error';
        row.message = messageOf(e);
        row.progress = undefined;
        this.deps.onChange();
      }
    }
  }

  /**
   * Adds a file the user opened (an IQ file, one quantized elsewhere) to the comparison. Measured
   * against the current base when lowbit can run it; otherwise listed as 'unsupported' with its
   * size, bits per weight and the reason.
   */
  async addFile(model: LabModel, signal?: AbortSignal): Promise<void> {
    const row: LabRow = { label: model.label, kind: 'opened', status: 'queued', bytes: model.source.size };
    this.rows.push(row);
    this.deps.onChange();
    try {
      const file = await readGGUF(model.source, { signal });
      row.bitsPerWeight = fileBitsPerWeight(file);
      try {
        checkTensorTypes(file);
      } catch (e) {
        row.status = 'unsupported';
        row.message = `not supported yet: ${messageOf(e)}`;
        this.deps.onChange();
        return;
      }
      if (!this.base) {
        row.status = 'error';
        row.message = 'run the lab on a base model first: KL is measured against it';
        this.deps.onChange();
        return;
      }
      await this.measure(row, async () => model.source, model.label, signal);
    } catch (e) {
      row.status = isAbort(e, signal) ? 'cancelled' : 'error';
      row.message = messageOf(e);
      row.progress = undefined;
      this.deps.onChange();
    } finally {
      await model.source.close?.();
    }
  }

  /** Frees the base model's GPU memory. */
  async dispose(): Promise<void> {
    await this.releaseBase();
  }

  private async loadBase(model: LabModel, file: GGUFFile, settings: LabSettings, signal?: AbortSignal): Promise<LoadedBase> {
    const gpu = await this.deps.gpu();
    const engine = await this.loadForEvaluation(gpu, model.source, file, settings.ctx, signal);
    try {
      const tokens = engine.tokenizer.encode(settings.text, { addSpecial: true, parseSpecial: false });
      const plan = planChunks(tokens.length, settings.ctx, settings.chunks);
      const bos = engine.tokenizer.addBos ? engine.tokenizer.bosId : null;
      this.base = { model, file, gpu, engine, tokens, plan, bos, chunks: null, settings };
      return this.base;
    } catch (e) {
      await engine.dispose();
      throw e;
    }
  }

  private async loadForEvaluation(gpu: GpuContext, source: ByteSource, file: GGUFFile, ctx: number, signal?: AbortSignal): Promise<Engine> {
    const vocab = modelConfigFromMetadata(file, file.tensor('token_embd.weight')?.dims[1]).vocabSize;
    return loadEngine(source, {
      gpu,
      contextSize: ctx,
      maxBatch: evaluationMaxBatch(gpu, vocab, ctx),
      evaluation: { allLogits: true },
      signal,
    });
  }

  private async quantizeOne(
    file: GGUFFile,
    model: LabModel,
    row: LabRow,
    type: FileType,
    name: string,
    signal?: AbortSignal,
  ): Promise<void> {
    row.status = 'quantizing';
    row.progress = 0;
    this.deps.onChange();
    let done = 0;
    const q = quantizeModel(file, model.source, {
      fileType: type,
      runner: this.deps.runner(),
      signal,
      onValues: (n) => {
        done += n;
        row.progress = done / q.totalValues;
        this.deps.onChange();
      },
    });
    const manifest = await storeQuantizedModel({ store: this.deps.store, name, plan: planGGUF(q.spec), signal });
    row.storedId = manifest.id;
    row.bytes = manifest.size;
  }

  /** Evaluates the model `open` gives against the base and fills the row's numbers. */
  private async measure(row: LabRow, open: () => Promise<StoredModelSource>, label: string, signal?: AbortSignal): Promise<void> {
    const base = this.base;
    if (!base) throw new QuantizeError('no base model is loaded');
    row.status = 'evaluating';
    row.progress = 0;
    this.deps.onChange();
    const source = await open();
    let engine: Engine | undefined;
    try {
      const file = await readGGUF(source, { signal });
      row.bitsPerWeight = fileBitsPerWeight(file);
      engine = await this.loadForEvaluation(base.gpu, source, file, base.settings.ctx, signal);
      checkSameVocabulary(
        { label: base.model.label, vocabSize: base.engine.config.vocabSize, tokenizer: base.engine.tokenizer },
        { label, vocabSize: engine.config.vocabSize, tokenizer: engine.tokenizer },
      );
      const baseChunks = base.chunks ?? evaluateChunks(base.engine.evaluator(), base.tokens, base.plan, base.bos, signal);
      const report = await compareChunks(
        baseChunks,
        evaluateChunks(engine.evaluator(), base.tokens, base.plan, base.bos, signal),
        base.engine.config.vocabSize,
        (index) => {
          row.progress = (index + 1) / base.plan.chunks;
          this.deps.onChange();
        },
      );
      Object.assign(row, {
        status: 'done',
        ppl: report.ppl.quant,
        pplError: report.ppl.quantError,
        kl: report.kld.mean,
        klError: report.kld.error,
        sameTop1: report.sameTop.fraction,
        tokens: report.tokens,
        progress: undefined,
      });
      this.deps.onChange();
    } finally {
      await engine?.dispose();
      if (source !== base.model.source) await source.close?.();
    }
  }

  private async releaseBase(): Promise<void> {
    const b = this.base;
    this.base = null;
    if (!b) return;
    await b.engine.dispose();
    await b.model.source.close?.();
  }
}
