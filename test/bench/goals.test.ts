// The bench's goal table (bench/lib/goals.ts): each goal is judged from the run's own ratios, and
// a goal whose measurement is absent is left out rather than reported as met.
import { describe, expect, it } from 'vitest';
import type { E2eRow } from '../../bench/lib/e2e.ts';
import { goalsTable, kernelGoals, type KernelRatio } from '../../bench/lib/goals.ts';

const ratio = (name: string, type: string, median: number, min = median, max = median): KernelRatio => ({
  name,
  type,
  median,
  min,
  max,
  mad: 0,
  n: 7,
});

function e2eRow(model: string, prefill: number, decode: number, over: Partial<E2eRow> = {}): E2eRow {
  return {
    model,
    prefillTokensPerSec: prefill,
    decodeTokensPerSec: decode,
    decodeTokens: 64,
    submissionsPerStep: 1,
    readbackBytesPerStep: 4,
    newGpuObjectsPerStep: 0,
    ...over,
  } as E2eRow;
}

describe('kernelGoals', () => {
  it('judges each ratio by its median against its target, keeping the spread', () => {
    const goals = kernelGoals(
      [
        ratio('matvec-int8-vs-Q4_0-int8', 'I2_S', 1.9, 1.5, 2.2),
        ratio('matvec-vs-Q4_0', 'TQ2_0', 0.7),
        ratio('matmul-over-matvec-mac-rate', 'Q4_0', 2.9),
        ratio('matvec-int8-over-f32', 'Q8_0', 1.43),
        ratio('matvec-int8-over-f32', 'Q4_0', 1.5),
      ],
      [],
      64,
    );
    const bySubject = new Map(goals.map((g) => [g.subject, g]));
    expect(bySubject.get('I2_S, int8 activations')).toMatchObject({ value: 1.9, min: 1.5, max: 2.2, met: true });
    expect(bySubject.get('TQ2_0, f32 activations')?.met).toBe(false);
    expect(bySubject.get('Q4_0')).toMatchObject({ goal: 'mat-mul ÷ mat-vec MAC rate', target: 5, met: false });
    expect(bySubject.get('Q8_0 mat-vec')?.met).toBe(false);
    // A ratio exactly at its target meets it.
    expect(bySubject.get('Q4_0 mat-vec')?.met).toBe(true);
    // Not measured in this run: no row, rather than a row that says "met".
    expect(bySubject.has('TQ1_0, int8 activations')).toBe(false);
    expect(goals.some((g) => g.goal.startsWith('decode step'))).toBe(false);
  });

  it('takes prefill ÷ decode from the 3M fixtures only and the step counters from the worst model', () => {
    const goals = kernelGoals(
      [],
      [
        e2eRow('tinystories-llama-3M-Q4_0.gguf', 160, 20),
        e2eRow('tinystories-bitnet-3M-I2_S.gguf', 85, 50),
        e2eRow('stories260K.gguf', 900, 70, { readbackBytesPerStep: 20, submissionsPerStep: 1.08 }),
        // Ended on an end-of-text token with steps in flight: left out of the step counters.
        e2eRow('stories260K-Q8_0.gguf', 900, 70, { decodeTokens: 53, submissionsPerStep: 1.3, readbackBytesPerStep: 30 }),
      ],
      64,
    );
    const prefill = goals.filter((g) => g.goal.startsWith('prefill'));
    expect(prefill.map((g) => [g.subject, g.met])).toEqual([
      ['tinystories-llama-3M-Q4_0', true],
      ['tinystories-bitnet-3M-I2_S', false],
    ]);
    const step = new Map(goals.filter((g) => g.goal.startsWith('decode step')).map((g) => [g.subject, g]));
    expect(step.get('bytes read back per step')).toMatchObject({ value: 20, met: false });
    expect(step.get('submissions per step')).toMatchObject({ value: 1.08, met: false });
    expect(step.get('GPU objects created per step')).toMatchObject({ value: 0, met: true });
    expect(goals.find((g) => g.goal.startsWith('decode step'))?.goal).toBe('decode step, worst of 3 models');
  });

  it('prints met and missed with the target direction', () => {
    const table = goalsTable(
      kernelGoals([ratio('matvec-vs-Q4_0', 'I2_S', 2, 1.7, 2.3)], [e2eRow('tinystories-llama-3M-F32.gguf', 100, 50)], 64),
    );
    expect(table).toMatch(/I2_S, f32 activations +\| 2\.00 +\| 1\.70–2\.30 +\| ≥ 1\.8 +\| met /);
    expect(table).toMatch(/bytes read back per step +\| 4\.00 +\| +\| ≤ 16 +\| met /);
    expect(table).toMatch(/tinystories-llama-3M-F32 +\| 2\.00 .*\| missed /);
  });
});
