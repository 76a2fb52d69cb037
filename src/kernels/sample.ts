/**
 * Choosing the next token on the GPU: greedy argmax, the full sampler (temperature, top-k, top-p,
 * min-p, seeded draws), repetition/frequency/presence penalties from the token history, and a
 * top-K probability report. All write token ids into small u32 buffers the next step's embedding
 * reads, and optionally into the token history at position kvLen, so a decode step never waits
 * for the CPU; the CPU reads the history back in batches.
 *
 * Token history: u32 [maxCtx], history[p] = token at position p (the CPU writes the prompt's,
 * the sampler appends). Penalties look at history[kvLen - window … kvLen - 1].
 * Algorithms: shaders/sample.wgsl (header), shaders/argmax.wgsl, shaders/penalties.wgsl.
 */
import argmaxWgsl from '../../shaders/argmax.wgsl?raw';
import penaltiesWgsl from '../../shaders/penalties.wgsl?raw';
import sampleWgsl from '../../shaders/sample.wgsl?raw';
import topProbsWgsl from '../../shaders/top_probs.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { createStorageBuffer, createUniformBuffer } from '../gpu/buffers.ts';
import { type BufferRef, type KernelCall, type VariantOptions, checkDim, dispatchTokens, makeBindGroup, opsPipeline } from './common.ts';
import { SAMPLING_DEFAULTS, type SamplingOptions } from './sampling-options.ts';

export const SAMPLING_PARAMS_BYTES = 48;

/** The SamplingParams uniform (shaders/sampling.wgsl) for these options (missing ones default). */
export function encodeSamplingParams(options: SamplingOptions = {}): ArrayBuffer {
  const o: Required<SamplingOptions> = { ...SAMPLING_DEFAULTS };
  // Only the sampling fields: callers may pass a wider options object (the runtime's RunOptions).
  for (const name of Object.keys(SAMPLING_DEFAULTS) as (keyof SamplingOptions)[]) {
    const v = options[name];
    if (v !== undefined) o[name] = v;
  }
  for (const [name, v] of Object.entries(o)) {
    if (!Number.isFinite(v)) throw new RangeError(`sampling: ${name} must be a finite number, got ${v}`);
  }
  for (const name of ['topK', 'penaltyWindow', 'seed'] as const) {
    if (!Number.isInteger(o[name]) || o[name] < 0 || o[name] > 0xffffffff)
      throw new RangeError(`sampling: ${name} must be an integer in [0, 2^32), got ${o[name]}`);
  }
  if (o.repetitionPenalty <= 0) throw new RangeError(`sampling: repetitionPenalty must be > 0, got ${o.repetitionPenalty}`);
  const buf = new ArrayBuffer(SAMPLING_PARAMS_BYTES);
  const f = new Float32Array(buf);
  const u = new Uint32Array(buf);
  f[0] = o.temperature;
  u[1] = o.topK;
  f[2] = o.topP;
  f[3] = o.minP;
  f[4] = o.repetitionPenalty;
  f[5] = o.frequencyPenalty;
  f[6] = o.presencePenalty;
  u[7] = o.penaltyWindow;
  u[8] = o.seed;
  return buf;
}

export function createSamplingParams(ctx: GpuContext, options: SamplingOptions = {}): GPUBuffer {
  return createUniformBuffer(ctx, encodeSamplingParams(options), 'samplingParams');
}

export function writeSamplingParams(ctx: GpuContext, buffer: GPUBuffer, options: SamplingOptions): void {
  ctx.device.queue.writeBuffer(buffer, 0, encodeSamplingParams(options));
}

function pcgHash(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** CPU mirror of the shader's uniform01(seed, counter, draw): the u in [0, 1) draw d uses. */
export function samplingUniform(seed: number, counter: number, draw: number): number {
  const h = pcgHash((pcgHash((pcgHash(seed) ^ counter) >>> 0) ^ Math.imul(draw, 0x9e3779b9)) >>> 0);
  return (h >>> 8) / 16777216;
}

const defaultWg = (ctx: GpuContext): number => (ctx.isSoftware ? 64 : 256);

function checkWg(kernel: string, wg: number): void {
  if (!Number.isInteger(Math.log2(wg)) || wg < 4 || wg > 256)
    throw new RangeError(`${kernel}: workgroupSize must be a power of two in [4, 256], got ${wg}`);
}

function singleDispatch(pipeline: GPUComputePipeline, group: GPUBindGroup, x = 1): KernelCall {
  return {
    encode(pass) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(x);
    },
  };
}

export interface ArgmaxConfig extends VariantOptions {
  vocab: number;
  workgroupSize?: number;
  /**
   * A batched decode step's choice over up to this many rows: logits [rows][vocab], row r's token
   * to out[r] (no history binding); the step's nTokens is the row count.
   */
  rows?: number;
}

export interface TokenOutBindings {
  params: BufferRef;
  /** [vocab] f32 */
  logits: BufferRef;
  /** u32 [draws]: the chosen token id(s). */
  out: BufferRef;
  /** u32 [maxCtx]: the token is also written at position kvLen (skipped past the end). */
  history?: BufferRef;
}

export interface ArgmaxKernel {
  readonly partials: GPUBuffer;
  bind(b: TokenOutBindings): KernelCall;
}

/** Greedy choice: the index of the largest logit (lowest index on ties), in two passes. */
export function createArgmax(ctx: GpuContext, cfg: ArgmaxConfig): ArgmaxKernel {
  checkDim('argmax', 'vocab', cfg.vocab);
  const wg = cfg.workgroupSize ?? defaultWg(ctx);
  checkWg('argmax', wg);
  const nb = Math.max(1, Math.min(64, Math.ceil(cfg.vocab / (wg * 8))));
  const rows = cfg.rows ?? 1;
  checkDim('argmax', 'rows', rows);
  const base = { WG: wg, N: cfg.vocab, NB: nb, ROWS: cfg.rows !== undefined };
  const opts = { subgroups: cfg.subgroups };
  const partialPipe = opsPipeline(ctx, 'argmax', argmaxWgsl, { ...base, FINAL: false, HISTORY: false }, opts);
  const finals = new Map<boolean, GPUComputePipeline>();
  const finalPipe = (history: boolean) => {
    let p = finals.get(history);
    if (!p) finals.set(history, (p = opsPipeline(ctx, 'argmax-final', argmaxWgsl, { ...base, FINAL: true, HISTORY: history }, opts)));
    return p;
  };
  const partials = createStorageBuffer(ctx, rows * nb * 8, { label: 'argmax:partials' });
  return {
    partials,
    bind(b) {
      if (cfg.rows !== undefined && b.history) throw new RangeError('argmax: rows write no history');
      const fp = finalPipe(b.history !== undefined);
      const g1 = makeBindGroup(ctx, partialPipe, 'argmax', [undefined, partials, b.logits]);
      const g2 = makeBindGroup(ctx, fp, 'argmax-final', [b.history ? b.params : undefined, partials, b.out, b.history]);
      if (cfg.rows === undefined) {
        const first = singleDispatch(partialPipe, g1, nb);
        const second = singleDispatch(fp, g2);
        return {
          encode(pass) {
            first.encode(pass);
            second.encode(pass);
          },
        };
      }
      return {
        encode(pass, step) {
          const n = dispatchTokens(step, rows);
          pass.setPipeline(partialPipe);
          pass.setBindGroup(0, g1);
          pass.dispatchWorkgroups(nb, n);
          pass.setPipeline(fp);
          pass.setBindGroup(0, g2);
          pass.dispatchWorkgroups(n);
        },
      };
    },
  };
}

export interface SamplerConfig extends VariantOptions {
  vocab: number;
  /** Independent draws per dispatch (out[d], u = uniform01(seed, kvLen, d)); default 1. */
  draws?: number;
  /** Top-p candidates handled exactly in workgroup memory before the 32-pass fallback (default 1024, 256 on software devices). */
  candidateCap?: number;
  workgroupSize?: number;
}

export interface SamplerBindings extends TokenOutBindings {
  /** The SamplingParams uniform (createSamplingParams). */
  sampling: BufferRef;
}

/** One workgroup that filters and draws: see shaders/sample.wgsl for the exact algorithm. */
export function createSampler(ctx: GpuContext, cfg: SamplerConfig): { bind(b: SamplerBindings): KernelCall } {
  checkDim('sampler', 'vocab', cfg.vocab);
  const draws = cfg.draws ?? 1;
  checkDim('sampler', 'draws', draws);
  const cap = cfg.candidateCap ?? (ctx.isSoftware ? 256 : 1024);
  checkDim('sampler', 'candidateCap', cap);
  const wg = cfg.workgroupSize ?? defaultWg(ctx);
  checkWg('sampler', wg);
  // cand_key + cand_e, the radix histogram, chunk sums, reduction slots and broadcasts.
  const sharedBytes = 8 * cap + 4 * 256 + 4 * wg + 8 * wg + 16;
  if (sharedBytes > ctx.limits.maxComputeWorkgroupStorageSize) {
    throw new RangeError(
      `sampler: candidateCap ${cap} needs ${sharedBytes} bytes of workgroup memory; maxComputeWorkgroupStorageSize is ${ctx.limits.maxComputeWorkgroupStorageSize}`,
    );
  }
  const pipes = new Map<boolean, GPUComputePipeline>();
  const pipe = (history: boolean) => {
    let p = pipes.get(history);
    if (!p)
      pipes.set(
        history,
        (p = opsPipeline(
          ctx,
          'sampler',
          sampleWgsl,
          { WG: wg, N: cfg.vocab, DRAWS: draws, CAP: cap, HISTORY: history },
          { subgroups: cfg.subgroups },
        )),
      );
    return p;
  };
  pipe(false);
  return {
    bind(b) {
      const p = pipe(b.history !== undefined);
      return singleDispatch(p, makeBindGroup(ctx, p, 'sampler', [b.params, b.sampling, b.logits, b.out, b.history]));
    },
  };
}

export interface PenaltiesConfig {
  vocab: number;
  /** Largest penalty window honoured (default 256); penaltyWindow is clamped to it. */
  maxWindow?: number;
}

export interface PenaltiesBindings {
  params: BufferRef;
  sampling: BufferRef;
  /** u32 [maxCtx] token history. */
  history: BufferRef;
  /** [vocab] f32, modified in place. */
  logits: BufferRef;
}

/** Applies the penalties in place; encode it before the sampler (or argmax). */
export function createPenalties(ctx: GpuContext, cfg: PenaltiesConfig): { bind(b: PenaltiesBindings): KernelCall } {
  checkDim('penalties', 'vocab', cfg.vocab);
  const maxWindow = cfg.maxWindow ?? 256;
  checkDim('penalties', 'maxWindow', maxWindow);
  const pipeline = opsPipeline(ctx, 'penalties', penaltiesWgsl, { N: cfg.vocab, MAXWIN: maxWindow }, { subgroups: false });
  const groups = Math.ceil(maxWindow / 64);
  return {
    bind(b) {
      return singleDispatch(pipeline, makeBindGroup(ctx, pipeline, 'penalties', [b.params, b.sampling, b.history, b.logits]), groups);
    },
  };
}

export interface TopProbsConfig extends VariantOptions {
  vocab: number;
  /** Entries reported (default 5). */
  k?: number;
  workgroupSize?: number;
}

export interface TopProb {
  id: number;
  prob: number;
}

/** Writes the k most probable tokens of softmax(logits) as (id, prob) u32 pairs: 8·k bytes to read back. */
export function createTopProbs(
  ctx: GpuContext,
  cfg: TopProbsConfig,
): { readonly k: number; bind(b: { logits: BufferRef; out: BufferRef }): KernelCall } {
  checkDim('top-probs', 'vocab', cfg.vocab);
  const k = Math.min(cfg.k ?? 5, cfg.vocab);
  checkDim('top-probs', 'k', k);
  const wg = cfg.workgroupSize ?? defaultWg(ctx);
  checkWg('top-probs', wg);
  const pipeline = opsPipeline(ctx, 'top-probs', topProbsWgsl, { WG: wg, N: cfg.vocab, K: k }, { subgroups: cfg.subgroups });
  return {
    k,
    bind(b) {
      return singleDispatch(pipeline, makeBindGroup(ctx, pipeline, 'top-probs', [b.logits, b.out]));
    },
  };
}

/** Decodes createTopProbs output read back as u32 words. */
export function decodeTopProbs(words: Uint32Array, k: number): TopProb[] {
  const f = new Float32Array(words.buffer, words.byteOffset, words.length);
  const out: TopProb[] = [];
  for (let r = 0; r < k && 2 * r + 1 < words.length; r++) out.push({ id: words[2 * r]!, prob: f[2 * r + 1]! });
  return out;
}
