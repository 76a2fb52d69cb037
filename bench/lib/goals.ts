/**
 * The kernel goals of one `npm run bench` run, each as measured against its target with met or
 * missed, so a run on any device answers "where do the kernels stand" without reading the tables.
 *
 * Kernel ratios are medians of per-round ratios of interleaved timings (bench/kernels.ts), shown
 * with their min–max over rounds. End-to-end figures are one run per model: prefill ÷ decode is the
 * ratio of two rates measured in the same engine, one after the other.
 */
import type { Spread } from '../../src/stats.ts';
import type { E2eRow } from './e2e.ts';
import { fmt, markdownTable } from './table.ts';

/** A headline ratio from bench/kernels.ts's JSON (`ratios[]`). */
export interface KernelRatio extends Spread {
  name: string;
  type: string;
}

export interface GoalRow {
  goal: string;
  subject: string;
  /** The measured value; for kernel ratios the median over rounds. */
  value: number;
  min?: number;
  max?: number;
  /** The value must be ≥ this (or ≤, when `atMost`). */
  target: number;
  atMost?: boolean;
  met: boolean;
}

const TERNARY = ['TQ2_0', 'TQ1_0', 'I2_S'];
const TERNARY_OVER_Q4_0 = 1.8;
const MATMUL_OVER_MATVEC = 5;
const PREFILL_OVER_DECODE = 8;
const INT8_OVER_F32 = 1.5;
const MAX_READBACK_BYTES = 16;

function ratioGoal(goal: string, subject: string, r: KernelRatio, target: number): GoalRow {
  return { goal, subject, value: r.median, min: r.min, max: r.max, target, met: r.median >= target };
}

/**
 * Every goal the run has the measurements for; a goal whose rows were not measured is left out.
 * The step counters come from the models that decoded all `decodeTokens` tokens: a run that ends on
 * an end-of-text token has already submitted the steps in flight behind it, which then count
 * against fewer tokens.
 */
export function kernelGoals(ratios: readonly KernelRatio[], e2e: readonly E2eRow[], decodeTokens: number): GoalRow[] {
  const rows: GoalRow[] = [];
  const find = (name: string, type: string) => ratios.find((r) => r.name === name && r.type === type);
  for (const t of TERNARY) {
    const f32 = find('matvec-vs-Q4_0', t);
    if (f32) rows.push(ratioGoal('ternary mat-vec weights/s ÷ Q4_0', `${t}, f32 activations`, f32, TERNARY_OVER_Q4_0));
    const int8 = find('matvec-int8-vs-Q4_0-int8', t);
    if (int8) rows.push(ratioGoal('ternary mat-vec weights/s ÷ Q4_0', `${t}, int8 activations`, int8, TERNARY_OVER_Q4_0));
  }
  for (const r of ratios.filter((r) => r.name === 'matmul-over-matvec-mac-rate')) {
    rows.push(ratioGoal('mat-mul ÷ mat-vec MAC rate', r.type, r, MATMUL_OVER_MATVEC));
  }
  for (const r of ratios.filter((r) => r.name === 'matmul-int8-over-matvec-int8-mac-rate')) {
    rows.push(ratioGoal('mat-mul ÷ mat-vec MAC rate', `${r.type}, int8 activations`, r, MATMUL_OVER_MATVEC));
  }
  for (const t of ['Q8_0', 'Q4_0']) {
    const mv = find('matvec-int8-over-f32', t);
    if (mv) rows.push(ratioGoal('int8 ÷ f32 activations', `${t} mat-vec`, mv, INT8_OVER_F32));
    const mm = find('matmul-int8-over-f32', t);
    if (mm) rows.push(ratioGoal('int8 ÷ f32 activations', `${t} mat-mul`, mm, INT8_OVER_F32));
  }
  for (const r of e2e.filter((r) => /^tinystories-.*-3M-/i.test(r.model))) {
    const value = r.prefillTokensPerSec / r.decodeTokensPerSec;
    rows.push({
      goal: 'prefill ÷ decode tok/s (one run)',
      subject: r.model.replace(/\.gguf$/, ''),
      value,
      target: PREFILL_OVER_DECODE,
      met: value >= PREFILL_OVER_DECODE,
    });
  }
  const fullRuns = e2e.filter((r) => r.decodeTokens >= decodeTokens);
  if (fullRuns.length) {
    const worst = (pick: (r: E2eRow) => number) => Math.max(...fullRuns.map(pick));
    const step = (subject: string, value: number, target: number): GoalRow => ({
      goal: `decode step, worst of ${fullRuns.length} models`,
      subject,
      value,
      target,
      atMost: true,
      met: value <= target,
    });
    rows.push(
      step(
        'submissions per step',
        worst((r) => r.submissionsPerStep),
        1,
      ),
    );
    rows.push(
      step(
        'bytes read back per step',
        worst((r) => r.readbackBytesPerStep),
        MAX_READBACK_BYTES,
      ),
    );
    rows.push(
      step(
        'GPU objects created per step',
        worst((r) => r.newGpuObjectsPerStep),
        0,
      ),
    );
  }
  return rows;
}

export function goalsTable(rows: readonly GoalRow[]): string {
  return markdownTable(
    ['goal', 'subject', 'measured', 'min–max over rounds', 'target', 'result'],
    rows.map((g) => [
      g.goal,
      g.subject,
      fmt(g.value, 2),
      g.min !== undefined && g.max !== undefined ? `${fmt(g.min, 2)}–${fmt(g.max, 2)}` : '',
      `${g.atMost ? '≤' : '≥'} ${g.target}`,
      g.met ? 'met' : 'missed',
    ]),
  );
}
