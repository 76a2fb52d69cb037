/**
 * Causal self-attention with GQA over an f32 KV cache.
 *
 * KV cache layout (one K and one V buffer per layer): f32 [nKvHeads][maxCtx][headDim]; the row of
 * position p of kv head h starts at element (h * maxCtx + p) * headDim. Query head qh reads kv
 * head floor(qh / (nHeads / nKvHeads)), as ggml broadcasts.
 *
 * - createKvWrite: this step's K/V rows → cache rows pos0 … pos0+nTokens-1 (createRope can fuse
 *   this with K's rotation instead).
 * - createDecodeAttention: one query token, split-K over the cache ("flash decoding") + combine;
 *   one pass when a single chunk covers the context; on a software adapter a thread per (row,
 *   query head) instead of a workgroup per kv head (DecodeAttentionConfig.layout), with the same
 *   bits.
 * - createPrefillAttention: nTokens query tokens, causal, with an online softmax: K/V tiles shared
 *   in workgroup memory, or one thread per row on a software adapter (AttentionLayout).
 * Both read kvLen / pos0 from the step params, so bind groups are reused at every position.
 */
import kvWriteWgsl from '../../shaders/kv_write.wgsl?raw';
import decodeWgsl from '../../shaders/attention_decode.wgsl?raw';
import decodeRowsWgsl from '../../shaders/attention_decode_rows.wgsl?raw';
import prefillWgsl from '../../shaders/attention_prefill.wgsl?raw';
import prefillRowsWgsl from '../../shaders/attention_prefill_rows.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { createStorageBuffer } from '../gpu/buffers.ts';
import { DeviceLimitError } from '../errors.ts';
import { type BufferRef, type KernelCall, checkDim, dispatchTokens, grid, makeBindGroup, opsPipeline } from './common.ts';

export interface AttentionShape {
  headDim: number;
  nHeads: number;
  nKvHeads: number;
  /** Positions the cache holds. */
  maxCtx: number;
}

/** Bytes of one layer's K (or V) cache buffer. */
export function kvCacheLayerBytes(s: Pick<AttentionShape, 'headDim' | 'nKvHeads' | 'maxCtx'>): number {
  return s.nKvHeads * s.maxCtx * s.headDim * 4;
}

function checkShape(kernel: string, s: AttentionShape): number {
  checkDim(kernel, 'headDim', s.headDim, 4);
  checkDim(kernel, 'nHeads', s.nHeads);
  checkDim(kernel, 'nKvHeads', s.nKvHeads);
  checkDim(kernel, 'maxCtx', s.maxCtx);
  if (s.headDim % 4) throw new RangeError(`${kernel}: headDim must be a multiple of 4, got ${s.headDim}`);
  if (s.nHeads % s.nKvHeads) throw new RangeError(`${kernel}: nHeads (${s.nHeads}) must be a multiple of nKvHeads (${s.nKvHeads})`);
  return s.nHeads / s.nKvHeads;
}

function scaleOf(kernel: string, s: AttentionShape, scale: number | undefined): number {
  const v = scale ?? 1 / Math.sqrt(s.headDim);
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${kernel}: scale must be a positive number, got ${v}`);
  return v;
}

export interface KvWriteConfig {
  headDim: number;
  nKvHeads: number;
  maxCtx: number;
  /** Largest nTokens the step params will hold. Default 1. */
  maxTokens?: number;
}

export interface KvWriteBindings {
  params: BufferRef;
  /** [nTokens][nKvHeads][headDim] */
  k: BufferRef;
  v: BufferRef;
  kCache: BufferRef;
  vCache: BufferRef;
}

export function createKvWrite(
  ctx: GpuContext,
  cfg: KvWriteConfig,
): { readonly pipeline: GPUComputePipeline; bind(b: KvWriteBindings): KernelCall } {
  checkDim('kv-write', 'headDim', cfg.headDim);
  checkDim('kv-write', 'nKvHeads', cfg.nKvHeads);
  checkDim('kv-write', 'maxCtx', cfg.maxCtx);
  const maxTokens = cfg.maxTokens ?? 1;
  checkDim('kv-write', 'maxTokens', maxTokens);
  const pipeline = opsPipeline(
    ctx,
    'kv-write',
    kvWriteWgsl,
    { HD: cfg.headDim, NK: cfg.nKvHeads, MAXCTX: cfg.maxCtx },
    { subgroups: false },
  );
  return {
    pipeline,
    bind(b) {
      const group = makeBindGroup(ctx, pipeline, 'kv-write', [b.params, b.k, b.v, b.kCache, b.vCache]);
      return {
        encode(pass, step) {
          const [gx, gy] = grid(ctx, Math.ceil((dispatchTokens(step, maxTokens) * cfg.nKvHeads * cfg.headDim) / 64));
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(gx, gy);
        },
      };
    },
  };
}

export interface DecodeAttentionConfig extends AttentionShape {
  /** Softmax scale (default 1/sqrt(headDim)). */
  scale?: number;
  /**
   * Most chunks per kv head (default 16; 2 on software devices, where each workgroup has a fixed
   * cost of ~80 µs and there are only a few cores to fill).
   */
  maxSplits?: number;
  /** Fewest positions per chunk before another split is used (default 64; 256 on software devices). */
  minChunk?: number;
  /**
   * A batched decode step's attention (batch-decode.ts): one query row per sequence, each at its
   * own position in its own slot of caches that hold `slots` × `slotElements` f32 values apiece
   * (slot s at element s · slotElements.k of kCache, s · slotElements.v of vCache), as the row
   * table (AttentionBindings.rows) says. Steps are encoded with StepShape.maxPos.
   */
  rows?: SlotRows;
  /**
   * How pass 1 spreads its work, with the same bits either way: `tiled`, a workgroup of 64
   * threads per (row, kv head, split) with its positions' scores and probabilities staged in
   * workgroup memory (attention_decode.wgsl); `rows`, a thread per (row, query head, split) with
   * no workgroup memory or barriers (attention_decode_rows.wgsl), for the reason prefill has the
   * layout (AttentionLayout). Default: defaultAttentionLayout for the device and head size.
   */
  layout?: AttentionLayout;
}

/** How the kernels of a batched decode step find each row's sequence (see DecodeAttentionConfig.rows). */
export interface SlotRows {
  /** Most rows of a step. */
  maxRows: number;
  /** f32 values from one slot of a layer's K cache to the next's, and of its V cache. */
  slotElements: { k: number; v: number };
}

/** Defines of the ROWS variants of rope.wgsl and attention_decode.wgsl. */
export function slotRowsDefines(rows: SlotRows | undefined): Record<string, number | boolean> {
  if (!rows) return { ROWS: false };
  checkDim('slot rows', 'maxRows', rows.maxRows);
  for (const e of [rows.slotElements.k, rows.slotElements.v])
    if (!Number.isInteger(e) || e < 0 || e % 4) throw new RangeError(`slot rows: slot elements must be multiples of 4, got ${e}`);
  return { ROWS: true, SLOT_K: rows.slotElements.k, SLOT_V: rows.slotElements.v };
}

export interface AttentionBindings {
  params: BufferRef;
  /** Decode: [nHeads][headDim]. Prefill: [nTokens][nHeads][headDim]. */
  q: BufferRef;
  kCache: BufferRef;
  vCache: BufferRef;
  /** Same shape as q. */
  output: BufferRef;
  /** DecodeAttentionConfig.rows: u32 (position, slot) per row of the step. */
  rows?: BufferRef;
}

export interface DecodeAttentionKernel {
  readonly pipelines: readonly GPUComputePipeline[];
  /** Scratch for the per-chunk partials, shared by every bind() of this kernel (dispatches run in order). */
  readonly partials: GPUBuffer;
  bind(b: AttentionBindings): KernelCall;
}

export function createDecodeAttention(ctx: GpuContext, cfg: DecodeAttentionConfig): DecodeAttentionKernel {
  const name = 'decode-attention';
  const g = checkShape(name, cfg);
  const threadRows = decodeLayout(ctx, cfg) === 'rows';
  const minChunk = cfg.minChunk ?? (ctx.isSoftware ? 256 : 64);
  checkDim(name, 'minChunk', minChunk);
  const maxSplits = cfg.maxSplits ?? (ctx.isSoftware ? 2 : 16);
  checkDim(name, 'maxSplits', maxSplits);
  // Rows keep partials per row, so they hold only the splits their context can use (a row's
  // split count is the same either way: it never reaches the cap).
  const nSplit = cfg.rows ? activeSplits(cfg.maxCtx, minChunk, maxSplits) : maxSplits;
  const scale = scaleOf(name, cfg, cfg.scale);
  const defines = {
    HD: cfg.headDim,
    G: g,
    NH: cfg.nHeads,
    NSPLIT: nSplit,
    MIN_CHUNK: minChunk,
    MAXCTX: cfg.maxCtx,
    ...slotRowsDefines(cfg.rows),
  };
  const maxRows = cfg.rows?.maxRows ?? 1;
  const combine = opsPipeline(ctx, `${name}-combine`, decodeWgsl, { ...defines, COMBINE: true, SINGLE: false }, { subgroups: false });
  const partials = createStorageBuffer(ctx, maxRows * cfg.nHeads * nSplit * (cfg.headDim + 2) * 4, { label: 'decode-attention:partials' });
  // The `rows` layout's pass 1: WG query heads of a row and split per workgroup.
  const rowsWorkgroup = Math.min(cfg.nHeads, ROWS_WORKGROUP);
  const rowsPass = (single: boolean) =>
    opsPipeline(
      ctx,
      `${name}-rows${single ? '-single' : ''}`,
      decodeRowsWgsl,
      { ...defines, HD4: cfg.headDim / 4, WG: rowsWorkgroup, SINGLE: single },
      { subgroups: false, constants: { SCALE: scale } },
    );
  const pass1 = threadRows
    ? { partial: rowsPass(false), single: rowsPass(true) }
    : {
        partial: opsPipeline(
          ctx,
          name,
          decodeWgsl,
          { ...defines, COMBINE: false, SINGLE: false },
          { subgroups: false, constants: { SCALE: scale } },
        ),
        single: opsPipeline(
          ctx,
          `${name}-single`,
          decodeWgsl,
          { ...defines, COMBINE: false, SINGLE: true },
          { subgroups: false, constants: { SCALE: scale } },
        ),
      };
  const { partial, single } = pass1;
  return {
    pipelines: [partial, combine, single],
    partials,
    bind(b) {
      if (cfg.rows && !b.rows) throw new RangeError(`${name}: the rows binding is required with config.rows`);
      const [params, rows] = cfg.rows ? [undefined, b.rows] : [b.params, undefined];
      const pass1Refs = (out: BufferRef) =>
        threadRows ? [rows ?? params, b.q, b.kCache, b.vCache, out] : [params, b.q, b.kCache, b.vCache, out, rows];
      const g1 = makeBindGroup(ctx, partial, name, pass1Refs(partials));
      const g2 = makeBindGroup(ctx, combine, `${name}-combine`, [params, partials, b.output, rows]);
      const g3 = makeBindGroup(ctx, single, `${name}-single`, pass1Refs(b.output));
      // Pass 1's grid over `splits` chunks of each kv head (tiled) or query-head group (rows), per row.
      const pass1Grid = (splits: number, nRows: number): [number, number, number] =>
        threadRows ? [Math.ceil(cfg.nHeads / rowsWorkgroup), splits, nRows] : [splits, cfg.nKvHeads, nRows];
      return {
        encode(pass, step) {
          const nRows = cfg.rows ? dispatchTokens(step, maxRows) : 1;
          const kvLen = step && (cfg.rows ? (step.maxPos ?? cfg.maxCtx - 1) + 1 : step.pos0 + step.nTokens);
          const splits = kvLen ? activeSplits(Math.min(kvLen, cfg.maxCtx), minChunk, nSplit) : nSplit;
          if (splits === 1) {
            pass.setPipeline(single);
            pass.setBindGroup(0, g3);
            pass.dispatchWorkgroups(...pass1Grid(1, nRows));
            return;
          }
          pass.setPipeline(partial);
          pass.setBindGroup(0, g1);
          pass.dispatchWorkgroups(...pass1Grid(splits, nRows));
          pass.setPipeline(combine);
          pass.setBindGroup(0, g2);
          pass.dispatchWorkgroups(cfg.nHeads, nRows);
        },
      };
    },
  };
}

/** The pass-1 layout a decode attention runs with (DecodeAttentionConfig.layout). */
function decodeLayout(ctx: GpuContext, cfg: DecodeAttentionConfig): AttentionLayout {
  const layout = chosenLayout('decode-attention', ctx, cfg.headDim, cfg.layout);
  if (layout === 'rows' && cfg.headDim > ROWS_MAX_HEAD_DIM)
    throw new RangeError(`decode-attention: the rows layout takes heads of at most ${ROWS_MAX_HEAD_DIM}, got ${cfg.headDim}`);
  return layout;
}

/** Chunks per kv head the decode shader uses for kvLen valid positions. */
export function activeSplits(kvLen: number, minChunk: number, maxSplits: number): number {
  return Math.min(Math.max(Math.ceil(kvLen / minChunk), 1), maxSplits);
}

/**
 * How an attention kernel spreads its work (prefill: KernelVariants.attention; decode:
 * DecodeAttentionConfig.layout), with the prefill kernels described here:
 *   tiled  a workgroup's rows share K/V tiles staged in workgroup memory (attention_prefill.wgsl),
 *          several threads per row: each cache row is read from memory once per workgroup;
 *   rows   one thread per (token, query head) row, reading the cache directly, with no workgroup
 *          memory and no barriers (attention_prefill_rows.wgsl).
 */
export type AttentionLayout = 'tiled' | 'rows';
export const ATTENTION_LAYOUTS: readonly AttentionLayout[] = ['tiled', 'rows'];

/**
 * The layout a device runs by default. On a software adapter invocations are CPU SIMD lanes, so a
 * barrier switches every lane group of the workgroup and a staged row is read lane by lane: there
 * `rows` took 0.3–0.5× the tiled kernel's time on every model shape measured
 * (bench/probes/prefill-attention.ts). A GPU keeps the tiled kernel, which reads each K/V row once
 * per workgroup instead of once per row. Heads over what a `rows` thread holds keep `tiled`.
 */
export function defaultAttentionLayout(ctx: Pick<GpuContext, 'isSoftware'>, headDim: number): AttentionLayout {
  return ctx.isSoftware && headDim <= ROWS_MAX_HEAD_DIM ? 'rows' : 'tiled';
}

/** `requested`, or the device's default for the head size; an unknown layout is refused by `name`. */
function chosenLayout(name: string, ctx: Pick<GpuContext, 'isSoftware'>, headDim: number, requested?: AttentionLayout): AttentionLayout {
  const layout = requested ?? defaultAttentionLayout(ctx, headDim);
  if (!ATTENTION_LAYOUTS.includes(layout)) throw new RangeError(`${name}: unknown layout '${String(layout)}'`);
  return layout;
}

/** The layouts a head of `headDim` can run with on `ctx`, its default first (what autotune times). */
export function prefillAttentionLayouts(ctx: Pick<GpuContext, 'isSoftware'>, headDim: number): AttentionLayout[] {
  const first = defaultAttentionLayout(ctx, headDim);
  return [first, ...ATTENTION_LAYOUTS.filter((l) => l !== first)].filter((l) => l !== 'rows' || headDim <= ROWS_MAX_HEAD_DIM);
}

/** Threads per workgroup of the `rows` layout. */
const ROWS_WORKGROUP = 64;
/** Keys per online-softmax update in the `rows` layout (the running maximum is rescaled once per block). */
const ROWS_KEY_BLOCK = 4;
/** Largest head dimension of the `rows` layout, whose thread holds a query and an output row in registers. */
const ROWS_MAX_HEAD_DIM = 256;

export interface PrefillAttentionConfig extends AttentionShape {
  /** Largest nTokens the step params will hold. */
  maxTokens: number;
  scale?: number;
  /** Work layout (default: defaultAttentionLayout for the device and head size). */
  layout?: AttentionLayout;
}

/**
 * Threads per row, rows per workgroup and keys per staged K/V tile for a head dimension (see
 * attention_prefill.wgsl): the most keys per tile, up to 16, whose K and V rows and partial dots
 * fit the workgroup storage (16 KiB under mobile limits).
 */
export function prefillTiling(headDim: number, workgroupStorage: number): { tpr: number; rows: number; keysPerTile: number } {
  const hd4 = headDim / 4;
  const dpt4 = hd4 % 4 === 0 ? 4 : hd4 % 2 === 0 ? 2 : 1;
  const tpr = hd4 / dpt4;
  const rows = Math.max(1, Math.floor(64 / tpr));
  const bytesPerKey = (tpr * rows + 2 * headDim) * 4;
  let keysPerTile = 16;
  while (keysPerTile > 1 && keysPerTile * bytesPerKey > workgroupStorage) keysPerTile /= 2;
  return { tpr, rows, keysPerTile };
}

export function createPrefillAttention(
  ctx: GpuContext,
  cfg: PrefillAttentionConfig,
): { readonly pipeline: GPUComputePipeline; bind(b: AttentionBindings): KernelCall } {
  const name = 'prefill-attention';
  const g = checkShape(name, cfg);
  checkDim(name, 'maxTokens', cfg.maxTokens);
  const scale = scaleOf(name, cfg, cfg.scale);
  if (chosenLayout(name, ctx, cfg.headDim, cfg.layout) === 'rows') return prefillAttentionRows(ctx, cfg, g, scale);
  const { tpr, rows, keysPerTile } = prefillTiling(cfg.headDim, ctx.limits.maxComputeWorkgroupStorageSize);
  if (tpr * rows > ctx.limits.maxComputeInvocationsPerWorkgroup)
    throw new RangeError(`${name}: headDim ${cfg.headDim} needs too many threads per row`);
  if (keysPerTile * (tpr * rows + 2 * cfg.headDim) * 4 > ctx.limits.maxComputeWorkgroupStorageSize)
    throw new DeviceLimitError(
      `${name}: headDim ${cfg.headDim} needs more workgroup storage than maxComputeWorkgroupStorageSize ${ctx.limits.maxComputeWorkgroupStorageSize}`,
    );
  const pipeline = opsPipeline(
    ctx,
    name,
    prefillWgsl,
    { HD: cfg.headDim, G: g, NH: cfg.nHeads, MAXCTX: cfg.maxCtx, TPR: tpr, DPT4: cfg.headDim / 4 / tpr, R: rows, BK: keysPerTile },
    { subgroups: false, constants: { SCALE: scale } },
  );
  return prefillCall(ctx, pipeline, name, cfg, g, rows);
}

/**
 * A prefill attention kernel bound to its buffers, dispatched over (token, query head) rows of
 * each kv head: ⌈rows / rowsPerGroup⌉ workgroups by nKvHeads.
 */
function prefillCall(
  ctx: GpuContext,
  pipeline: GPUComputePipeline,
  name: string,
  cfg: PrefillAttentionConfig,
  g: number,
  rowsPerGroup: number,
): { readonly pipeline: GPUComputePipeline; bind(b: AttentionBindings): KernelCall } {
  return {
    pipeline,
    bind(b) {
      const group = makeBindGroup(ctx, pipeline, name, [b.params, b.q, b.kCache, b.vCache, b.output]);
      return {
        encode(pass, step) {
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(Math.ceil((dispatchTokens(step, cfg.maxTokens) * g) / rowsPerGroup), cfg.nKvHeads);
        },
      };
    },
  };
}

/** createPrefillAttention's `rows` layout: one thread per (token, query head) row. */
function prefillAttentionRows(
  ctx: GpuContext,
  cfg: PrefillAttentionConfig,
  g: number,
  scale: number,
): { readonly pipeline: GPUComputePipeline; bind(b: AttentionBindings): KernelCall } {
  const name = 'prefill-attention-rows';
  if (cfg.headDim > ROWS_MAX_HEAD_DIM) throw new RangeError(`${name}: headDim ${cfg.headDim} is over ${ROWS_MAX_HEAD_DIM}`);
  // The lanes of a subgroup share each key and value row's loads when they can split a row evenly.
  const sg = ctx.subgroupMinSize;
  const shareKv = ctx.hasSubgroups && sg > 0 && sg === ctx.subgroupMaxSize && (cfg.headDim / 4) % sg === 0 && ROWS_WORKGROUP % sg === 0;
  const pipeline = opsPipeline(
    ctx,
    name,
    prefillRowsWgsl,
    {
      HD: cfg.headDim,
      HD4: cfg.headDim / 4,
      G: g,
      NH: cfg.nHeads,
      MAXCTX: cfg.maxCtx,
      WG: ROWS_WORKGROUP,
      KB: ROWS_KEY_BLOCK,
      SHARE_KV: shareKv,
      SG: shareKv ? sg : 1,
      HD4_SG: shareKv ? cfg.headDim / 4 / sg : 0,
    },
    { subgroups: shareKv, constants: { SCALE: scale } },
  );
  return prefillCall(ctx, pipeline, name, cfg, g, ROWS_WORKGROUP);
}
