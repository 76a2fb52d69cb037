/**
 * Rotary position embedding for Q and K (normal or NeoX pairing, partial rotary dims, linear
 * frequency scaling, optional per-dimension frequency factors such as Llama 3's rope_freqs).
 * With `kvCache`, K is written rotated straight into the KV cache and V copied next to it, so one
 * dispatch covers RoPE and the cache write of a layer.
 *
 * KV cache layout (one buffer per layer for K and one for V): f32 [nKvHeads][maxCtx][headDim];
 * the row of position p of head h starts at element (h * maxCtx + p) * headDim.
 */
import ropeWgsl from '../../shaders/rope.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { createStorageBuffer } from '../gpu/buffers.ts';
import { type SlotRows, slotRowsDefines } from './attention.ts';
import { type BufferRef, type KernelCall, checkDim, dispatchTokens, grid, makeBindGroup, opsPipeline } from './common.ts';

export interface RopeConfig {
  headDim: number;
  nHeads: number;
  nKvHeads: number;
  /** Rotated dims per head (`rope.dimension_count`), even, ≤ headDim. Default headDim. */
  ropeDim?: number;
  /** `rope.freq_base` (default 10000). */
  freqBase?: number;
  /** `rope.freq_scale`, i.e. 1 / `rope.scaling.factor` for linear scaling (default 1). */
  freqScale?: number;
  /** NeoX pairing (i, i + ropeDim/2) instead of (2i, 2i+1). */
  neox: boolean;
  /** Per-pair frequency divisors (ropeDim/2 values, e.g. the `rope_freqs.weight` tensor). */
  freqFactors?: Float32Array;
  /** Largest nTokens the step params will hold. Default 1. */
  maxTokens?: number;
  /** Fuse the KV-cache write: K rotated into kCache, V copied into vCache. */
  kvCache?: { maxCtx: number };
  /**
   * With kvCache, a batched decode step (batch-decode.ts): token t of the step is row t, the token
   * of a sequence at its own position in its own slot of the caches, as the row table
   * (RopeBindings.rows) says (see DecodeAttentionConfig.rows).
   */
  rows?: SlotRows;
}

export interface RopeBindings {
  params: BufferRef;
  /** [nTokens][nHeads][headDim], rotated in place. */
  q: BufferRef;
  /** [nTokens][nKvHeads][headDim]: rotated in place, or (kvCache) read and written rotated to kCache. */
  k: BufferRef;
  /** kvCache only: [nTokens][nKvHeads][headDim]. */
  v?: BufferRef;
  kCache?: BufferRef;
  vCache?: BufferRef;
  /** RopeConfig.rows: u32 (position, slot) per row of the step. */
  rows?: BufferRef;
}

export interface RopeKernel {
  readonly pipeline: GPUComputePipeline;
  /** freq_i / 2π per rotated pair (f64); uploaded as {@link turnsFixedPoint}. */
  readonly turnsPerPosition: Float64Array;
  bind(b: RopeBindings): KernelCall;
}

/** freq_i / 2π for pair i: freqScale * base^(-2i/ropeDim) / factor_i / 2π, in f64. */
export function ropeTurns(ropeDim: number, freqBase: number, freqScale: number, freqFactors?: Float32Array): Float64Array {
  const half = ropeDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    out[i] = (freqScale * Math.pow(freqBase, (-2 * i) / ropeDim)) / (freqFactors ? freqFactors[i]! : 1) / (2 * Math.PI);
  }
  return out;
}

/**
 * The fraction of each turns value in 0.64 fixed point as (hi, lo) u32 pairs: positions are
 * integers, so whole turns drop out and the shader gets the exact angle fraction by modular
 * integer multiplication (f64 gives the first ~53 of the 64 bits).
 */
export function turnsFixedPoint(turns: Float64Array): Uint32Array {
  const out = new Uint32Array(turns.length * 2);
  turns.forEach((t, i) => {
    const f = t - Math.floor(t);
    const hi = Math.floor(f * 2 ** 32);
    const lo = Math.floor((f * 2 ** 32 - hi) * 2 ** 32);
    out[2 * i] = hi >>> 0;
    out[2 * i + 1] = Math.min(lo, 2 ** 32 - 1) >>> 0;
  });
  return out;
}

export function createRope(ctx: GpuContext, cfg: RopeConfig): RopeKernel {
  const name = 'rope';
  checkDim(name, 'headDim', cfg.headDim, 2);
  checkDim(name, 'nHeads', cfg.nHeads);
  checkDim(name, 'nKvHeads', cfg.nKvHeads);
  const ropeDim = cfg.ropeDim ?? cfg.headDim;
  checkDim(name, 'ropeDim', ropeDim, 2);
  if (cfg.headDim % 2 || ropeDim % 2 || ropeDim > cfg.headDim) {
    throw new RangeError(`rope: headDim (${cfg.headDim}) and ropeDim (${ropeDim}) must be even with ropeDim ≤ headDim`);
  }
  const freqBase = cfg.freqBase ?? 10000;
  const freqScale = cfg.freqScale ?? 1;
  if (!(freqBase > 0) || !Number.isFinite(freqBase)) throw new RangeError(`rope: freqBase must be a positive number, got ${freqBase}`);
  if (!(freqScale > 0) || !Number.isFinite(freqScale)) throw new RangeError(`rope: freqScale must be a positive number, got ${freqScale}`);
  if (cfg.freqFactors) {
    if (cfg.freqFactors.length !== ropeDim / 2) {
      throw new RangeError(`rope: freqFactors has ${cfg.freqFactors.length} values, expected ropeDim/2 = ${ropeDim / 2}`);
    }
    if (!cfg.freqFactors.every((f) => f > 0 && Number.isFinite(f)))
      throw new RangeError('rope: freqFactors must be positive finite numbers');
  }
  const maxTokens = cfg.maxTokens ?? 1;
  checkDim(name, 'maxTokens', maxTokens);
  const kv = cfg.kvCache !== undefined;
  const maxCtx = cfg.kvCache?.maxCtx ?? 1;
  checkDim(name, 'kvCache.maxCtx', maxCtx);
  if (cfg.rows && !kv) throw new RangeError('rope: rows needs kvCache');
  const turnsPerPosition = ropeTurns(ropeDim, freqBase, freqScale, cfg.freqFactors);
  const turns = createStorageBuffer(ctx, turnsFixedPoint(turnsPerPosition), { label: 'rope:turns' });
  const pipeline = opsPipeline(
    ctx,
    'rope',
    ropeWgsl,
    {
      HD: cfg.headDim,
      NQ: cfg.nHeads,
      NK: cfg.nKvHeads,
      HALF: ropeDim / 2,
      MAXCTX: maxCtx,
      NEOX: cfg.neox,
      KV: kv,
      ...slotRowsDefines(cfg.rows),
    },
    { subgroups: false },
  );
  const perToken = kv ? cfg.nHeads * (ropeDim / 2) + cfg.nKvHeads * cfg.headDim : (cfg.nHeads + cfg.nKvHeads) * (ropeDim / 2);
  return {
    pipeline,
    turnsPerPosition,
    bind(b) {
      if (kv && (!b.v || !b.kCache || !b.vCache)) throw new RangeError('rope: bindings v, kCache and vCache are required with kvCache');
      if (cfg.rows && !b.rows) throw new RangeError('rope: the rows binding is required with config.rows');
      const refs = kv ? [b.params, turns, b.q, b.k, b.v, b.kCache, b.vCache, cfg.rows ? b.rows : undefined] : [b.params, turns, b.q, b.k];
      const group = makeBindGroup(ctx, pipeline, 'rope', refs);
      return {
        encode(pass, step) {
          const [gx, gy] = grid(ctx, Math.ceil((perToken * dispatchTokens(step, maxTokens)) / 64));
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(gx, gy);
        },
      };
    },
  };
}
