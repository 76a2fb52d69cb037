/**
 * The measurements of the scale parity tests (test/scale): lowbit's logits at every position of a
 * teacher-forced sequence, and the figures comparing them with llama.cpp's (issue 10 item 3).
 */
import { basename } from 'node:path';
import type { GpuContext } from '../../src/gpu/device.ts';
import type { ActivationsOption } from '../../src/kernels/matvec-q8.ts';
import { KlAccumulator, logSumExp } from '../../src/runtime/quality.ts';
import { recipeByName } from '../../scripts/scale-models/recipes.ts';
import { openEngine } from './gpu-engine.ts';
import { rng } from './random.ts';

/** Top-1 must agree wherever llama.cpp's top-1 probability exceeds its top-2's by more than this. */
export const MARGIN = 0.02;

export interface ParityFigures {
  positions: number;
  meanKl: number;
  maxKl: number;
  /** Largest |p_lowbit − p_llama| of llama.cpp's top-1 token over all positions. */
  maxAbsDeltaP: number;
  /** Positions where llama.cpp's top-1 − top-2 > MARGIN, and how many of them lowbit's top-1 matches. */
  decisive: number;
  agreeing: number;
  /** The decisive positions whose top-1 differs: llama.cpp's margin there, and lowbit's top-1 − top-2 of its own choice. */
  misses: { pos: number; llamaMargin: number; lowbitMargin: number }[];
}

/** Probabilities of the largest and second-largest logit of one row, and the argmax. */
function topTwo(logits: Float32Array, off: number, vocab: number): { argmax: number; p1: number; p2: number } {
  const { lse, argmax } = logSumExp(logits, off, vocab);
  let second = -Infinity;
  for (let i = 0; i < vocab; i++) if (i !== argmax && logits[off + i]! > second) second = logits[off + i]!;
  return { argmax, p1: Math.exp(logits[off + argmax]! - lse), p2: Math.exp(second - lse) };
}

/** The figures of lowbit's logits against llama.cpp's, both `rows` × `vocab`. */
export function parityFigures(llama: Float32Array, lowbit: Float32Array, vocab: number): ParityFigures {
  const rows = llama.length / vocab;
  const llamaTop = new Int32Array(rows);
  let decisive = 0;
  let agreeing = 0;
  const misses: ParityFigures['misses'] = [];
  for (let r = 0; r < rows; r++) {
    const off = r * vocab;
    const ref = topTwo(llama, off, vocab);
    llamaTop[r] = ref.argmax;
    if (ref.p1 - ref.p2 > MARGIN) {
      decisive++;
      const ours = topTwo(lowbit, off, vocab);
      if (ours.argmax === ref.argmax) agreeing++;
      else misses.push({ pos: r, llamaMargin: ref.p1 - ref.p2, lowbitMargin: ours.p1 - ours.p2 });
    }
  }
  // Scoring llama.cpp's own top-1 makes the accumulator's Δp the change in that token's probability.
  const kl = new KlAccumulator();
  kl.add(llama, lowbit, llamaTop, vocab);
  const rep = kl.report();
  return {
    positions: rows,
    meanKl: rep.kld.mean,
    maxKl: rep.kld.max,
    maxAbsDeltaP: Math.max(Math.abs(rep.deltaP.max), Math.abs(rep.deltaP.min)),
    decisive,
    agreeing,
    misses,
  };
}

/** KL(llama.cpp ‖ lowbit) of each position. */
export function positionKl(llama: Float32Array, lowbit: Float32Array, vocab: number): number[] {
  return Array.from({ length: llama.length / vocab }, (_, r) => {
    const row = (a: Float32Array) => a.subarray(r * vocab, (r + 1) * vocab);
    return parityFigures(row(llama), row(lowbit), vocab).meanKl;
  });
}

/** A position's KL at or below this is f32 noise (lowbit against llama.cpp on F32 weights: ~1e-13). */
export const EXACT_KL = 1e-9;

/** How many positions from the first match to f32 noise (EXACT_KL). */
export function exactLead(llama: Float32Array, lowbit: Float32Array, vocab: number): number {
  const kl = positionKl(llama, lowbit, vocab);
  const first = kl.findIndex((v) => v > EXACT_KL);
  return first < 0 ? kl.length : first;
}

export function describeFigures(label: string, f: ParityFigures): string {
  const misses = f.misses.map((m) => `${m.pos} (margins ${m.llamaMargin.toFixed(3)} / ${m.lowbitMargin.toFixed(3)})`).join(', ');
  return (
    `${label}: mean KL ${f.meanKl.toExponential(2)} (max ${f.maxKl.toExponential(2)}), ` +
    `top-1 agreement ${f.agreeing}/${f.decisive} where margin > ${MARGIN}, max |Δp| ${f.maxAbsDeltaP.toExponential(2)} over ${f.positions} positions` +
    (misses ? `; misses at ${misses}` : '')
  );
}

/** A fixed teacher-forcing sequence: pseudo-random ids past the special tokens, the same every run. */
export function promptTokens(vocab: number, length: number): number[] {
  const next = rng(0x5ca1e);
  return Array.from({ length }, () => 256 + Math.floor(next() * (vocab - 256)));
}

/**
 * Runs one phase of a parity test and logs its wall time and the process's CPU time (llama.cpp and
 * the software GPU run in this process), so the costly phase of a shape is visible; on a shared
 * machine the CPU seconds are the steadier figure.
 */
export async function timed<T>(label: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  try {
    return await run();
  } finally {
    const used = process.cpuUsage(cpu);
    const wall = (performance.now() - started) / 1000;
    console.log(`${label}: ${wall.toFixed(1)} s wall, ${((used.user + used.system) / 1e6).toFixed(1)} s CPU`);
  }
}

/**
 * lowbit's logits at every position of `tokens`. int8 activations are read by the decode graph's
 * mat-vecs only, so that run goes one token per step (maxBatch 1); the LM head over each step's
 * rows reads f32 in both.
 */
export async function lowbitLogits(
  path: string,
  tokens: number[],
  activations: ActivationsOption,
  gpu?: GpuContext,
): Promise<Float32Array> {
  const maxBatch = activations === 'int8' ? 1 : undefined;
  const engine = await timed(`  ${basename(path)} load`, () =>
    openEngine(path, tokens.length, { activations, maxBatch, evaluation: { allLogits: true }, gpu }),
  );
  try {
    const evaluator = engine.evaluator();
    const vocab = evaluator.vocabSize;
    const logits = new Float32Array(tokens.length * vocab);
    await evaluator.evaluate(tokens, (r) => logits.set(r.logits, r.pos0 * vocab));
    evaluator.destroy();
    return logits;
  } finally {
    await engine.dispose();
  }
}

/**
 * Whether `npm run test:scale` runs the shape `name`: LOWBIT_TEST_SCALE=1, and LOWBIT_SCALE_SHAPES
 * (comma-separated recipe names) unset or naming it. A name no recipe has is an error, so a typo
 * does not pass as a run of nothing.
 */
export function scaleShapeSelected(name: string): boolean {
  if (process.env.LOWBIT_TEST_SCALE !== '1') return false;
  const only = process.env.LOWBIT_SCALE_SHAPES?.split(',').map((n) => n.trim());
  const unknown = only?.filter((n) => !recipeByName(n)) ?? [];
  if (unknown.length > 0) throw new Error(`LOWBIT_SCALE_SHAPES names unknown shapes: ${unknown.join(', ')}`);
  return !only || only.includes(name);
}

/**
 * The teacher-forced length of a `npm run test:scale` shape: LOWBIT_SCALE_TOKENS when set (a
 * shorter run of a large shape on a slow machine), else `standard`.
 */
export function scaleTokenCount(standard: number): number {
  const raw = process.env.LOWBIT_SCALE_TOKENS;
  if (raw === undefined || raw === '') return standard;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 16 || n > 4096) throw new Error(`LOWBIT_SCALE_TOKENS must be an integer from 16 to 4096, got ${raw}`);
  return n;
}
