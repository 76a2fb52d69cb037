/**
 * On-device autotuning: the kernel variants a model runs with, chosen by timing the candidates on
 * the device itself, on the model's own linear shapes, rather than by defaults guessed elsewhere.
 *
 * Three families are tuned, in this order (the decode mat-vec first: it is most of a decode step):
 *   activations  f32 or int8 decode activations (matvec-q8.ts), when the user left it to `auto`
 *                and the device has int8 dot products;
 *   matvec       per weight type, the mat-vec's work split (mode, workgroup size, rows per thread,
 *                input sharing; matmul.ts), under the activations chosen above;
 *   gemm         per weight type, the prefill GEMM's tile (matmul-tiled.ts gemmTileCandidates), and
 *                with int8 activations the int8 GEMM (matmul-q8.ts) as one more candidate;
 *   attention    prefill attention's work layout (attention.ts AttentionLayout) on the
 *                model's head shape, a full prefill batch from position 0.
 *
 * Noise guard: the candidates of a family are timed interleaved (every round times each once, as
 * bench/kernels.ts does) and compared with the default by the ratio within each round; a candidate
 * replaces the default only when its median ratio is below 1 − margin and it was faster in most
 * rounds. Otherwise the default stays, so a noisy device never trades a good default for luck.
 *
 * Budget: wall time including pipeline compilation; 2 s on a hardware GPU; on a software adapter
 * as long as decoding `budgetTokens` tokens takes (measured first with the default kernels), since
 * there a fixed time is either nothing or everything. A family that would start past the budget
 * keeps its default (reported as skipped).
 *
 * The weights timed are zero-filled buffers of the model's shapes (rows capped, see
 * MAX_TIMED_WEIGHT_BYTES): kernel speed does not depend on the values, and nothing is uploaded.
 *
 * The choice is cached per adapter, driver, device features and model shapes (autotuneKey) in a
 * {@link TuneRecordCache} (the model store's records); a cached record is re-checked against the
 * candidates this device offers before use, and anything else in it is ignored.
 */
import { DeviceLimitError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { createStorageBuffer, createUniformBuffer, pad4 } from '../gpu/buffers.ts';
import { timeGpu, timeInterleaved } from '../gpu/timing.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { gpuBlockGeometry } from '../quant/gpu-decoders.ts';
import { getGpuQuantType } from '../quant/table.ts';
import type { GGMLType } from '../quant/types.ts';
import { pairedRatios, spread, type Spread } from '../stats.ts';
import { type AttentionShape, createPrefillAttention, type AttentionLayout, prefillAttentionLayouts } from './attention.ts';
import type { KernelCall } from './common.ts';
import { createMatMul, createMatVec, type MatmulVariant, resolveVariant, tiledVariant } from './matmul.ts';
import { type GemmTile, gemmTileCandidates } from './matmul-tiled.ts';
import { createMatMulQ8, int8GemmTileCandidates } from './matmul-q8.ts';
import {
  type ActivationPrecision,
  type ActivationsOption,
  createMatVecQ8,
  createQuantizeQ8,
  hasInt8MatVec,
  quantizedActivationBytes,
  resolveActivations,
} from './matvec-q8.ts';
import { encodeStepParams } from './step-params.ts';

/** Kernel variants a forward pass runs with, by weight type (GGMLType); absent: the device default. */
export interface KernelVariants {
  /** Decode mat-vec work split (f32 and int8 activations alike; int8 never shares input). */
  matvec?: Partial<Record<number, Partial<MatmulVariant>>>;
  /** Prefill tiled-GEMM tile. */
  gemm?: Partial<Record<number, GemmTile>>;
  /**
   * Types whose prefill runs the int8 GEMM (matmul-q8.ts) with this tile, when the activations
   * are int8; the others run the f32 GEMM (tile from `gemm`). Autotune's gemm family offers it
   * next to the f32 tiles; by default no type has it, as on SwiftShader it was not faster than
   * the f32 GEMM (docs/kernels.md).
   */
  gemm8?: Partial<Record<number, GemmTile>>;
  /** Prefill attention's work layout (default: attention.ts defaultAttentionLayout for the device and head size). */
  attention?: AttentionLayout;
}

/** The linears of one shape in a model. */
export interface LinearShape {
  type: GGMLType;
  rows: number;
  cols: number;
  /** How many of the model's linears have this shape (weights the timing). */
  count: number;
}

/** The distinct shapes of `weights`, with their counts. */
export function linearShapes(weights: readonly { type: GGMLType; rows: number; cols: number }[]): LinearShape[] {
  const byKey = new Map<string, LinearShape>();
  for (const w of weights) {
    const key = `${w.type}:${w.rows}:${w.cols}`;
    const s = byKey.get(key);
    if (s) s.count++;
    else byKey.set(key, { type: w.type, rows: w.rows, cols: w.cols, count: 1 });
  }
  return [...byKey.values()].sort((a, b) => a.type - b.type || a.rows - b.rows || a.cols - b.cols);
}

export type TuneFamily = 'activations' | 'matvec' | 'gemm' | 'attention';

export interface CandidateReport {
  label: string;
  /** ms per workload call over the rounds (the workload: every shape of the family once per count). */
  ms: Spread;
  /** This candidate's time ÷ the default's, within each round (the default: 1). */
  ratio: Spread;
}

export interface FamilyReport {
  family: TuneFamily;
  /** The weight type's name (matvec, gemm). */
  type?: string;
  /** Timed candidates, the default first; empty when skipped. */
  candidates: CandidateReport[];
  /** Index of the chosen candidate (0: the default). */
  chosen: number;
  /** Why nothing was timed (over budget, one candidate only). */
  skipped?: string;
}

export interface TuneChoice {
  activations: ActivationPrecision;
  variants: KernelVariants;
}

export interface TuneResult extends TuneChoice {
  key: string;
  /** 'cache': read from the cache, nothing timed; 'measured': timed now. */
  source: 'cache' | 'measured';
  families: FamilyReport[];
  /** Wall ms spent (0 from the cache). */
  ms: number;
  /** The budget it ran under (ms). */
  budgetMs: number;
}

/** Where tuning records are kept (the model store's records: fs-store, idb-store, memory-store). */
export interface TuneRecordCache {
  readRecord(key: string): Promise<string | undefined>;
  writeRecord(key: string, text: string): Promise<void>;
}

export interface TuneOptions {
  /** Prefill chunk (the GEMM's token count). */
  maxBatch: number;
  /** The model's attention heads: with a prefill (maxBatch > 1), prefill attention's layout is tuned too. */
  attention?: Omit<AttentionShape, 'maxCtx'>;
  /** What the user asked for: anything but `auto` is kept, and not tuned. */
  activations?: ActivationsOption;
  /** Budget on a hardware GPU (default 2000 ms). */
  budgetMs?: number;
  /** Budget on a software adapter, in decode tokens' time (default 32). */
  budgetTokens?: number;
  /** Interleaved rounds per family (default 5). */
  rounds?: number;
  /** Fraction a candidate must beat the default by (default 0.08). */
  margin?: number;
  /** Largest number of candidates per family, the default included (default 6). */
  maxCandidates?: number;
  /**
   * Shortest timed submission (ms). Default: what is left of the budget spread over the families
   * and candidates still to time, between 2 and 100 ms.
   */
  minBatchMs?: number;
  /** Progress: a family is being timed. */
  onFamily?: (family: TuneFamily, type: string | undefined) => void;
}

/** Bumped when the candidates or the record format change, so older records are not trusted. */
const RECORD_VERSION = 2;
const HARDWARE_BUDGET_MS = 2000;
const SOFTWARE_BUDGET_TOKENS = 32;
/** Rows of a timed weight are capped to this many bytes (a 128k-row LM head times like 16k rows). */
const MAX_TIMED_WEIGHT_BYTES = 32 * 1024 * 1024;

/** The cache key: adapter + driver (description), features and limits tier, model shapes, options. */
export function autotuneKey(
  ctx: GpuContext,
  shapes: readonly LinearShape[],
  o: Pick<TuneOptions, 'maxBatch' | 'activations' | 'attention'>,
): string {
  const a = ctx.adapterInfo;
  const device = [a.vendor, a.architecture, a.device, a.description, a.isFallbackAdapter ? 'fallback' : 'hw'].join('/');
  const features = [
    ctx.limitsTier,
    ctx.hasF16 ? 'f16' : '',
    ctx.hasSubgroups ? `sg${ctx.subgroupMinSize}-${ctx.subgroupMaxSize}` : '',
    ctx.hasPackedInt8Dot ? 'dot4' : '',
  ].join(',');
  const model = shapes.map((s) => `${s.type}:${s.rows}x${s.cols}x${s.count}`).join(';');
  const heads = o.attention ? `|att${o.attention.headDim}:${o.attention.nHeads}/${o.attention.nKvHeads}` : '';
  return `lowbit-autotune-v${RECORD_VERSION}|${device}|${features}|${model}${heads}|b${o.maxBatch}|${o.activations ?? 'auto'}`;
}

const variantKey = (v: object) => JSON.stringify(v, Object.keys(v).sort());

/** The mat-vec work splits this device can run, its default first, at most `max`. */
export function matvecCandidates(ctx: GpuContext, activations: ActivationPrecision = 'f32', max = 6): MatmulVariant[] {
  const tries: Partial<MatmulVariant>[] = [{}];
  if (ctx.isSoftware) {
    for (const rowsPerThread of [4, 2, 8])
      for (const shareInput of [true, false]) tries.push({ mode: 'thread-row', workgroupSize: 16, rowsPerThread, shareInput });
    tries.push({ mode: 'thread-row', workgroupSize: 32, rowsPerThread: 4 }, { mode: 'subgroup-row', workgroupSize: 64, rowsPerThread: 4 });
  } else {
    for (const workgroupSize of [64, 128, 256])
      for (const rowsPerThread of [1, 2]) tries.push({ mode: 'subgroup-row', workgroupSize, rowsPerThread });
    for (const threadsPerRow of [16, 32]) tries.push({ mode: 'workgroup-row', workgroupSize: 128, threadsPerRow, rowsPerThread: 1 });
    tries.push({ mode: 'thread-row', workgroupSize: 64, rowsPerThread: 4, shareInput: false });
  }
  const seen = new Set<string>();
  const out: MatmulVariant[] = [];
  for (const t of tries) {
    let v: MatmulVariant;
    try {
      // The int8 mat-vec never shares input (createMatVecQ8 forces it off): compare what runs.
      v = resolveVariant(ctx, 'matvec', activations === 'int8' ? { ...t, shareInput: false } : t);
    } catch (e) {
      if (e instanceof DeviceLimitError || e instanceof RangeError) continue; // not on this device
      throw e;
    }
    const k = variantKey(v);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(v);
    }
    if (out.length >= max) break;
  }
  return out;
}

/** The GEMM tiles every shape of the type can run on this device, its default first, at most `max`. */
export function gemmCandidates(ctx: GpuContext, shapes: readonly LinearShape[], max = 6): GemmTile[] {
  const lists = shapes.map((s) => {
    const entry = getGpuQuantType(s.type);
    return gemmTileCandidates(ctx, gpuBlockGeometry(entry.layout, entry.gpu, s.cols).gemmChunkVec4s);
  });
  const first = lists[0] ?? [];
  return first.filter((t) => lists.every((l) => l.some((u) => variantKey(u) === variantKey(t)))).slice(0, max);
}

/** The int8 GEMM's default tile for every shape of the type, if the type has the int8 GEMM. */
export function int8GemmTileFor(ctx: GpuContext, shapes: readonly LinearShape[]): GemmTile | undefined {
  const s = shapes[0];
  if (!s || !ctx.hasPackedInt8Dot || !hasInt8MatVec(s.type) || !shapes.every((x) => x.cols % 32 === 0)) return undefined;
  return int8GemmTileCandidates(ctx, s.type)[0];
}

export function variantLabel(v: MatmulVariant): string {
  const extra = v.mode === 'workgroup-row' ? ` ×${v.threadsPerRow}/row` : v.shareInput ? ' shared-input' : '';
  return `${v.mode} wg${v.workgroupSize} ${v.rowsPerThread} rows${extra}`;
}

export function tileLabel(t: GemmTile): string {
  const rows = t.rowThreads * t.rowsPerThread;
  const tokens = t.tokenThreads * t.tokensPerThread;
  return `${rows}×${tokens} tile (${t.rowThreads}×${t.tokenThreads} threads, ${t.rowsPerThread}×${t.tokensPerThread} each${t.shareInput ? ', shared-input' : ''}${t.stageInput ? '' : ', unstaged'})`;
}

type Encode = (pass: GPUComputePassEncoder) => void;

/** GPU objects the tuner creates, destroyed when it is done. */
class Scratch {
  private readonly buffers: GPUBuffer[] = [];
  private readonly weights = new Map<string, GpuWeight>();
  private readonly inputs = new Map<number, GPUBuffer>();
  constructor(private readonly ctx: GpuContext) {}

  buffer(bytes: number, label: string): GPUBuffer {
    const b = createStorageBuffer(this.ctx, bytes, { label });
    this.buffers.push(b);
    return b;
  }

  uniform(data: Uint32Array<ArrayBuffer>): GPUBuffer {
    const b = createUniformBuffer(this.ctx, data, 'autotune:params');
    this.buffers.push(b);
    return b;
  }

  /** A zero weight of the shape's type and cols, rows capped (MAX_TIMED_WEIGHT_BYTES, one part). */
  weight(s: LinearShape): GpuWeight {
    const key = `${s.type}:${s.rows}:${s.cols}`;
    let w = this.weights.get(key);
    if (!w) {
      const entry = getGpuQuantType(s.type);
      const rowBytes = entry.gpuRowBytes(s.cols);
      const maxBytes = Math.min(MAX_TIMED_WEIGHT_BYTES, this.ctx.limits.maxStorageBufferBindingSize, this.ctx.limits.maxBufferSize);
      const rows = Math.max(1, Math.min(s.rows, Math.floor(maxBytes / rowBytes)));
      const buffer = this.buffer(pad4(rows * rowBytes), `autotune:${entry.name}:${rows}x${s.cols}`);
      w = {
        name: `autotune ${entry.name} ${rows}×${s.cols}`,
        type: s.type,
        rows,
        cols: s.cols,
        rowBytes,
        parts: [{ buffer, rowStart: 0, rowCount: rows }],
        tensorScale: 1,
      };
      this.weights.set(key, w);
    }
    return w;
  }

  /** Zero input/output space for `tokens` tokens of up to `elems` values. */
  io(elems: number): GPUBuffer {
    let b = this.inputs.get(elems);
    if (!b) this.inputs.set(elems, (b = this.buffer(elems * 4, 'autotune:io')));
    return b;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}

/** Per-layer multiplicity of a shape: the workload runs it as often, relative to the others, as a step does. */
function repeatsOf(s: LinearShape, shapes: readonly LinearShape[]): number {
  const fewest = Math.min(...shapes.map((x) => x.count));
  return Math.max(1, Math.round(s.count / fewest));
}

/**
 * Kernel calls one timed submission may encode, all workload repeats together: each call leaves
 * JS wrappers behind until the next GC, and a large model's step is hundreds of calls, so the
 * repeats per submission are capped by this rather than by a count of workloads.
 */
const MAX_CALLS_PER_SUBMISSION = 2048;
const callsPerWorkload = new WeakMap<Encode, number>();

function sequence(calls: readonly KernelCall[]): Encode {
  const encode: Encode = (pass) => {
    for (const c of calls) c.encode(pass);
  };
  callsPerWorkload.set(encode, calls.length);
  return encode;
}

/** How many times the largest of `workloads` fits in one submission (at least once). */
function maxRepeats(workloads: readonly Encode[]): number {
  return Math.max(1, Math.floor(MAX_CALLS_PER_SUBMISSION / Math.max(1, ...workloads.map((w) => callsPerWorkload.get(w) ?? 1))));
}

/** One decode step's linears of `shapes` with these activations and (per type) variants. */
function decodeWorkload(
  ctx: GpuContext,
  scratch: Scratch,
  shapes: readonly LinearShape[],
  activations: ActivationPrecision,
  variantOf: (type: GGMLType) => Partial<MatmulVariant> | undefined,
): Encode {
  const calls: KernelCall[] = [];
  const widest = Math.max(...shapes.map((s) => Math.max(s.rows, s.cols)));
  const x = scratch.io(widest);
  const y = scratch.io(widest + 4);
  const quantized = new Map<number, GPUBuffer>();
  for (const s of shapes) {
    const weight = scratch.weight(s);
    const variant = variantOf(s.type);
    let call: KernelCall;
    if (activations === 'int8' && hasInt8MatVec(s.type) && s.cols % 32 === 0) {
      // One quantize per distinct input width, as Q/K/V and gate/up share theirs.
      let xq = quantized.get(s.cols);
      if (!xq) {
        quantized.set(s.cols, (xq = scratch.buffer(quantizedActivationBytes(s.cols), 'autotune:xq')));
        calls.push(createQuantizeQ8(ctx, { cols: s.cols }).bind({ input: x, output: xq }));
      }
      call = createMatVecQ8(ctx, { type: s.type, rows: weight.rows, cols: s.cols, variant }).bind({ weight, input: xq, output: y });
    } else {
      call = createMatVec(ctx, { type: s.type, rows: weight.rows, cols: s.cols, variant }).bind({ weight, input: x, output: y });
    }
    for (let i = 0; i < repeatsOf(s, shapes); i++) calls.push(call);
  }
  return sequence(calls);
}

/** A prefill GEMM candidate: an f32 GEMM tile, or the int8 GEMM's (with int8 activations). */
interface GemmCandidate {
  tile: GemmTile;
  int8: boolean;
}

/** One prefill chunk's GEMMs over `shapes` with this tile (int8: the int8 GEMM's). */
function prefillWorkload(
  ctx: GpuContext,
  scratch: Scratch,
  shapes: readonly LinearShape[],
  cand: GemmCandidate,
  maxTokens: number,
): Encode {
  const { tile } = cand;
  const widest = Math.max(...shapes.map((s) => Math.max(s.rows, s.cols)));
  const x = scratch.io(widest * maxTokens);
  const y = scratch.io(widest * maxTokens + 4);
  const stepParams = scratch.uniform(encodeStepParams({ pos0: 0, nTokens: maxTokens }));
  const step = { pos0: 0, nTokens: maxTokens };
  const calls: KernelCall[] = [];
  for (const s of shapes) {
    const weight = scratch.weight(s);
    const mm = cand.int8
      ? createMatMulQ8(ctx, { type: s.type, rows: weight.rows, cols: s.cols, maxTokens, tile })
      : createMatMul(ctx, { type: s.type, rows: weight.rows, cols: s.cols, maxTokens, variant: tiledVariant(tile) });
    const call = mm.bind({ weight, input: x, output: y, stepParams });
    for (let i = 0; i < repeatsOf(s, shapes); i++) calls.push({ encode: (pass) => call.encode(pass, step) });
  }
  return sequence(calls);
}

/**
 * The noise guard: given ms per call of each candidate (the default first) in each round, the
 * candidate to use: the one with the lowest median per-round ratio to the default, when that
 * median is at most 1 − margin and it was faster than the default in at least 80% of the rounds;
 * else 0, the default.
 */
export function chooseCandidate(msPerCall: readonly (readonly number[])[], margin: number): number {
  const base = msPerCall[0]!;
  let chosen = 0;
  let best = 1 - margin;
  for (let i = 1; i < msPerCall.length; i++) {
    const ratios = pairedRatios(msPerCall[i]!, base);
    const fasterRounds = ratios.filter((r) => r < 1).length;
    const m = spread(ratios).median;
    if (m <= best && fasterRounds >= Math.ceil(0.8 * ratios.length)) {
      best = m;
      chosen = i;
    }
  }
  return chosen;
}

/** Times `workloads` (the default first) interleaved: the reports and the chosen index. */
async function compare(
  ctx: GpuContext,
  labels: readonly string[],
  workloads: readonly Encode[],
  o: { rounds: number; margin: number; minBatchMs: number },
): Promise<{ candidates: CandidateReport[]; chosen: number }> {
  const timing = await timeInterleaved(ctx, workloads, { rounds: o.rounds, minBatchMs: o.minBatchMs, maxCalls: maxRepeats(workloads) });
  const base = timing.msPerCall[0]!;
  const candidates = timing.msPerCall.map((ms, i) => ({ label: labels[i]!, ms: spread(ms), ratio: spread(pairedRatios(ms, base)) }));
  return { candidates, chosen: chooseCandidate(timing.msPerCall, o.margin) };
}

/** Times the candidates of every family on `shapes` and returns the choice (nothing is cached here). */
export async function tuneKernels(ctx: GpuContext, shapes: readonly LinearShape[], options: TuneOptions): Promise<TuneResult> {
  const started = performance.now();
  const rounds = options.rounds ?? 5;
  const margin = options.margin ?? 0.08;
  const maxCandidates = options.maxCandidates ?? 6;
  const key = autotuneKey(ctx, shapes, options);
  const requested = options.activations ?? 'auto';
  let activations = resolveActivations(ctx, requested);
  const variants: KernelVariants = { matvec: {}, gemm: {} };
  const families: FamilyReport[] = [];
  const types = [...new Set(shapes.map((s) => s.type))];
  const shapesOf = (t: GGMLType) => shapes.filter((s) => s.type === t);
  const scratch = new Scratch(ctx);
  try {
    if (shapes.length === 0) return { key, source: 'measured', activations, variants, families, ms: 0, budgetMs: 0 };
    // One default decode step's linears: the software budget's unit, and the default pipelines compiled.
    const step = decodeWorkload(ctx, scratch, shapes, activations, () => undefined);
    const stepMs = (await timeGpu(ctx, step, { minBatchMs: options.minBatchMs ?? 20, repeats: 1, maxCalls: maxRepeats([step]) })).msPerCall;
    const budgetMs = ctx.isSoftware
      ? (options.budgetTokens ?? SOFTWARE_BUDGET_TOKENS) * stepMs * Math.max(1, ...shapes.map((s) => s.count / repeatsOf(s, shapes)))
      : (options.budgetMs ?? HARDWARE_BUDGET_MS);
    // Families still to time (each type's mat-vec and GEMM, and the activations): the per-batch
    // time spreads what is left of the budget over them.
    const attentionLayouts = options.attention && options.maxBatch > 1 ? prefillAttentionLayouts(ctx, options.attention.headDim) : [];
    let familiesLeft = 1 + 2 * types.length + (attentionLayouts.length ? 1 : 0);
    const minBatchMs = () => {
      if (options.minBatchMs !== undefined) return options.minBatchMs;
      const left = budgetMs - (performance.now() - started);
      return Math.min(100, Math.max(2, left / Math.max(1, familiesLeft) / (maxCandidates * (rounds + 4))));
    };
    const overBudget = () => performance.now() - started > budgetMs;
    const run = async (family: TuneFamily, type: string | undefined, labels: string[], build: (i: number) => Encode): Promise<number> => {
      familiesLeft--;
      if (labels.length < 2) {
        families.push({ family, type, candidates: [], chosen: 0, skipped: 'one candidate on this device' });
        return 0;
      }
      if (overBudget()) {
        families.push({ family, type, candidates: [], chosen: 0, skipped: 'over budget' });
        return 0;
      }
      options.onFamily?.(family, type);
      const workloads: Encode[] = [];
      for (let i = 0; i < labels.length && (i < 2 || !overBudget()); i++) workloads.push(build(i));
      const r = await compare(ctx, labels.slice(0, workloads.length), workloads, { rounds, margin, minBatchMs: minBatchMs() });
      families.push({ family, type, ...r });
      return r.chosen;
    };

    if (requested === 'auto' && ctx.hasPackedInt8Dot && shapes.some((s) => hasInt8MatVec(s.type))) {
      const opts: ActivationPrecision[] = [activations, activations === 'int8' ? 'f32' : 'int8'];
      const i = await run('activations', undefined, opts, (j) => decodeWorkload(ctx, scratch, shapes, opts[j]!, () => undefined));
      activations = opts[i]!;
    } else familiesLeft--;

    for (const t of types) {
      const name = getGpuQuantType(t).name;
      const cands = matvecCandidates(ctx, activations, maxCandidates);
      const i = await run('matvec', name, cands.map(variantLabel), (j) =>
        decodeWorkload(ctx, scratch, shapesOf(t), activations, () => cands[j]),
      );
      if (i > 0) variants.matvec![t] = cands[i]!;
    }
    if (options.maxBatch > 1) {
      for (const t of types) {
        const cands: GemmCandidate[] = gemmCandidates(ctx, shapesOf(t), maxCandidates).map((tile) => ({ tile, int8: false }));
        // With int8 activations, the int8 GEMM (its default tile) competes with the f32 tiles.
        const tile8 = activations === 'int8' ? int8GemmTileFor(ctx, shapesOf(t)) : undefined;
        if (tile8) cands.push({ tile: tile8, int8: true });
        const i = await run(
          'gemm',
          getGpuQuantType(t).name,
          cands.map((c) => `${c.int8 ? 'int8 ' : ''}${tileLabel(c.tile)}`),
          (j) => prefillWorkload(ctx, scratch, shapesOf(t), cands[j]!, options.maxBatch),
        );
        if (cands[i]!.int8) (variants.gemm8 ??= {})[t] = cands[i]!.tile;
        else if (i > 0) variants.gemm![t] = cands[i]!.tile;
      }
    }
    if (options.attention && attentionLayouts.length) {
      const heads = options.attention;
      const i = await run('attention', undefined, attentionLayouts, (j) =>
        attentionWorkload(ctx, scratch, heads, attentionLayouts[j]!, options.maxBatch),
      );
      if (i > 0) variants.attention = attentionLayouts[i]!;
    }
    return { key, source: 'measured', activations, variants, families, ms: performance.now() - started, budgetMs };
  } finally {
    await ctx.device.queue.onSubmittedWorkDone();
    scratch.destroy();
  }
}

/** One line on what a tuning chose: the families whose default was replaced, and the time spent. */
export function describeTuning(r: TuneResult): string {
  const changed = r.families
    .filter((f) => f.chosen > 0)
    .map(
      (f) =>
        `${f.family}${f.type ? ` ${f.type}` : ''}: ${f.candidates[f.chosen]!.label} (×${(1 / f.candidates[f.chosen]!.ratio.median).toFixed(2)})`,
    );
  if (r.source === 'cache') return `kernels autotuned earlier (from the cache), ${r.activations} activations`;
  const skipped = r.families.filter((f) => f.skipped === 'over budget').length;
  return (
    `kernels autotuned in ${Math.round(r.ms)} ms (budget ${Math.round(r.budgetMs)} ms), ${r.activations} activations; ` +
    `${changed.length ? changed.join('; ') : 'the defaults were fastest'}${skipped ? `; ${skipped} families over budget kept their defaults` : ''}`
  );
}

interface TuneRecord {
  version: number;
  key: string;
  activations: ActivationPrecision;
  variants: KernelVariants;
}

export function serializeTuneChoice(key: string, choice: TuneChoice): string {
  const record: TuneRecord = { version: RECORD_VERSION, key, activations: choice.activations, variants: choice.variants };
  return JSON.stringify(record);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One prefill attention over `maxTokens` tokens from position 0, every head, in `layout`. */
function attentionWorkload(
  ctx: GpuContext,
  scratch: Scratch,
  heads: Omit<AttentionShape, 'maxCtx'>,
  layout: AttentionLayout,
  maxTokens: number,
): Encode {
  const { headDim, nHeads, nKvHeads } = heads;
  const step = { pos0: 0, nTokens: maxTokens };
  const cacheBytes = nKvHeads * maxTokens * headDim * 4;
  const call = createPrefillAttention(ctx, { ...heads, maxCtx: maxTokens, maxTokens, layout }).bind({
    params: scratch.uniform(encodeStepParams(step)),
    q: scratch.buffer(maxTokens * nHeads * headDim * 4, 'autotune:q'),
    kCache: scratch.buffer(cacheBytes, 'autotune:k'),
    vCache: scratch.buffer(cacheBytes, 'autotune:v'),
    output: scratch.buffer(maxTokens * nHeads * headDim * 4, 'autotune:attention'),
  });
  return (pass) => call.encode(pass, step);
}

/**
 * The choice a cached record holds, or undefined when it is not a record for this key or names
 * anything the device does not offer now: every variant must equal one of this device's
 * candidates for that type, so a tampered record can choose among the candidates at worst.
 */
export function parseTuneRecord(
  text: string | undefined,
  key: string,
  ctx: GpuContext,
  shapes: readonly LinearShape[],
  o: Pick<TuneOptions, 'activations' | 'maxCandidates' | 'attention'> & { maxBatch?: number },
): TuneChoice | undefined {
  if (typeof text !== 'string' || text.length > 64 * 1024) return undefined;
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(r) || r.version !== RECORD_VERSION || r.key !== key || !isRecord(r.variants)) return undefined;
  const requested = o.activations ?? 'auto';
  const activations = r.activations;
  if (activations !== 'f32' && activations !== 'int8') return undefined;
  if (requested !== 'auto' && activations !== requested) return undefined;
  if (activations === 'int8' && !ctx.hasPackedInt8Dot) return undefined;
  const types = new Set(shapes.map((s) => s.type));
  const {
    matvec = {},
    gemm = {},
    gemm8 = {},
    attention,
  } = r.variants as { matvec?: unknown; gemm?: unknown; gemm8?: unknown; attention?: unknown };
  if (!isRecord(matvec) || !isRecord(gemm) || !isRecord(gemm8)) return undefined;
  const out: KernelVariants = { matvec: {}, gemm: {} };
  if (attention !== undefined) {
    const layouts = o.attention && (o.maxBatch ?? 1) > 1 ? prefillAttentionLayouts(ctx, o.attention.headDim) : [];
    const known = layouts.find((l) => l === attention);
    if (!known) return undefined;
    out.attention = known;
  }
  const max = o.maxCandidates ?? 6;
  const mvKeys = new Map(matvecCandidates(ctx, activations, max).map((v) => [variantKey(v), v]));
  for (const [k, v] of Object.entries(matvec)) {
    const t = Number(k);
    const known = isRecord(v) ? mvKeys.get(variantKey(v)) : undefined;
    if (!types.has(t) || !known) return undefined;
    out.matvec![t] = known;
  }
  for (const [k, v] of Object.entries(gemm)) {
    const t = Number(k);
    if (!types.has(t) || !isRecord(v)) return undefined;
    const known = gemmCandidates(
      ctx,
      shapes.filter((s) => s.type === t),
      max,
    ).find((c) => variantKey(c) === variantKey(v));
    if (!known) return undefined;
    out.gemm![t] = known;
  }
  for (const [k, v] of Object.entries(gemm8)) {
    const t = Number(k);
    if (!types.has(t) || !isRecord(v) || activations !== 'int8') return undefined;
    const known = int8GemmTileFor(
      ctx,
      shapes.filter((s) => s.type === t),
    );
    if (!known || variantKey(known) !== variantKey(v)) return undefined;
    (out.gemm8 ??= {})[t] = known;
  }
  return { activations, variants: out };
}

export type AutotuneMode = 'on' | 'off' | 'retune';

/**
 * The kernel choice for a model: the cached record when there is a valid one (mode 'on'), else
 * timed now and written to the cache. A cache that fails to read or write only costs a re-tune.
 */
export async function autotune(
  ctx: GpuContext,
  shapes: readonly LinearShape[],
  options: TuneOptions & { mode?: Exclude<AutotuneMode, 'off'>; cache?: TuneRecordCache },
): Promise<TuneResult> {
  const key = autotuneKey(ctx, shapes, options);
  if (options.mode !== 'retune' && options.cache) {
    const text = await options.cache.readRecord(key).catch(() => undefined);
    const cached = parseTuneRecord(text, key, ctx, shapes, options);
    if (cached) return { key, source: 'cache', ...cached, families: [], ms: 0, budgetMs: 0 };
  }
  const result = await tuneKernels(ctx, shapes, options);
  await options.cache?.writeRecord(key, serializeTuneChoice(key, result)).catch(() => undefined);
  return result;
}
