// The statistics of lowbit perplexity / kl (issue 12 items 2–3), on hand-made logits whose
// answers are known in closed form, and llama-perplexity's percentile and median rules.
import { describe, expect, test } from 'vitest';
import { KlAccumulator, logSumExp, percentile, PerplexityAccumulator } from '../../src/runtime/quality.ts';

const rows = (...r: number[][]) => Float32Array.from(r.flat());

describe('PerplexityAccumulator', () => {
  test('uniform logits over V tokens: PPL = V whatever the targets', () => {
    const acc = new PerplexityAccumulator();
    acc.add(rows([0, 0, 0, 0], [3, 3, 3, 3]), Int32Array.of(1, 2), 4);
    expect(acc.result().ppl).toBeCloseTo(4, 12);
    expect(acc.result().tokens).toBe(2);
    expect(acc.result().pplError).toBe(0);
  });

  test('NLL of each row is log Σ exp − logit of its own target, and only targets.length rows count', () => {
    const acc = new PerplexityAccumulator();
    // p(target) = 1/2 then 1/4; a third row (no target) must be ignored
    acc.add(rows([Math.log(2), 0, 0], [0, Math.log(3), 0], [100, 0, 0]), Int32Array.of(0, 2), 3);
    const r = acc.result();
    expect(r.nll).toBeCloseTo((Math.log(2) + Math.log(5)) / 2, 6);
    expect(r.ppl).toBeCloseTo(Math.sqrt(10), 5);
    // llama-perplexity's error: sqrt((E[nll²] − E[nll]²)/(n−1)) · PPL
    const a = Math.log(2);
    const b = Math.log(5);
    expect(r.pplError).toBeCloseTo(Math.sqrt(((a * a + b * b) / 2 - ((a + b) / 2) ** 2) / 1) * r.ppl, 5);
  });
});

test('logSumExp: stable for large logits, first index of the maximum', () => {
  const r = logSumExp(Float32Array.of(1000, 1000, -5), 0, 3);
  expect(r.lse).toBeCloseTo(1000 + Math.log(2 + Math.exp(-1005)), 6);
  expect(r.argmax).toBe(0);
  expect(logSumExp(Float32Array.of(9, 1, 2, 7, 7), 2, 3).argmax).toBe(1);
});

describe('KlAccumulator', () => {
  test('the same logits: KL 0, same top 100 %, Δp 0, the two perplexities equal', () => {
    const acc = new KlAccumulator();
    const l = rows([1, 2, 3], [0.5, -1, 2]);
    acc.add(l, l.slice(), Int32Array.of(2, 0), 3);
    const r = acc.report();
    expect(r.kld.mean).toBeCloseTo(0, 12);
    expect(r.sameTop.fraction).toBe(1);
    expect(r.deltaP.mean).toBeCloseTo(0, 12);
    expect(r.ppl.quant).toBeCloseTo(r.ppl.base, 12);
  });

  test('KL(base ‖ quant) in closed form, Δp = p_quant − p_base of the next token, top-1 change counted', () => {
    const acc = new KlAccumulator();
    // base p = (0.75, 0.25), quant q = (0.25, 0.75): different tops.
    const base = rows([Math.log(3), 0]);
    const quant = rows([0, Math.log(3)]);
    acc.add(base, quant, Int32Array.of(0), 2);
    const r = acc.report();
    const kl = 0.75 * Math.log(0.75 / 0.25) + 0.25 * Math.log(0.25 / 0.75);
    expect(r.kld.mean).toBeCloseTo(kl, 6);
    expect(r.deltaP.mean).toBeCloseTo(0.25 - 0.75, 6);
    expect(r.sameTop.fraction).toBe(0);
    expect(r.lnPplRatio.mean).toBeCloseTo(Math.log(0.75 / 0.25), 6);
  });

  test('KL is not symmetric: the base model weights the sum', () => {
    const a = rows([2, 0, 0]);
    const b = rows([0, 0, 0]);
    const ab = new KlAccumulator();
    ab.add(a, b, Int32Array.of(0), 3);
    const ba = new KlAccumulator();
    ba.add(b, a, Int32Array.of(0), 3);
    expect(ab.report().kld.mean).not.toBeCloseTo(ba.report().kld.mean, 3);
  });

  test('base log-probabilities at or below −16 are left out, as llama-perplexity does', () => {
    const acc = new KlAccumulator();
    // token 1 has base log-prob ≈ −20: its (tiny) term is dropped, so KL is exactly token 0's term
    const base = rows([0, -20]);
    const quant = rows([0, 0]);
    acc.add(base, quant, Int32Array.of(0), 2);
    const lse = Math.log(1 + Math.exp(-20));
    const p0 = Math.exp(-lse);
    expect(acc.report().kld.mean).toBeCloseTo(p0 * (-lse - Math.log(0.5)), 9);
  });
});

test("percentile and median follow llama-perplexity's interpolation", () => {
  const v = Float64Array.of(1, 2, 4, 8, 16);
  expect(percentile(v, 0)).toBe(1);
  expect(percentile(v, 1)).toBe(16);
  expect(percentile(v, 0.5)).toBe(4);
  expect(percentile(v, 0.9)).toBeCloseTo(0.4 * 8 + 0.6 * 16, 12);
  const acc = new KlAccumulator();
  // four positions: Δp values −0.25, 0, 0, 0.25 → median 0 (mean of the middle two)
  acc.add(rows([Math.log(3), 0], [0, 0], [0, 0], [0, Math.log(3)]), rows([0, 0], [0, 0], [0, 0], [0, 0]), Int32Array.of(0, 0, 1, 0), 2);
  const r = acc.report();
  expect(r.deltaP.min).toBeCloseTo(-0.25, 6);
  expect(r.deltaP.max).toBeCloseTo(0.25, 6);
  expect(r.deltaP.median).toBeCloseTo(0, 6);
  // 0.75 · (4 − 1) = 2.25: a quarter of the way from the third value (0) to the fourth (0.25)
  expect(r.deltaP.percentiles['75.0%']).toBeCloseTo(0.0625, 6);
  expect(Object.keys(r.deltaP.percentiles)).toEqual([
    '99.9%',
    '99.0%',
    '95.0%',
    '90.0%',
    '75.0%',
    '25.0%',
    '10.0%',
    '5.0%',
    '1.0%',
    '0.1%',
  ]);
});
