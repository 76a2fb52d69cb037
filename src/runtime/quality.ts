/**
 * Quality statistics over evaluated logits, computed as llama-perplexity computes them: perplexity
 * with its standard error, and, against a base model's logits, the mean KL divergence, the
 * share of positions whose top token is the same, and the distribution of Δp (the change in the
 * probability of the actual next token). Pure CPU code over Float32Array rows; the GPU side is
 * runtime/evaluate.ts.
 */

/** log Σ exp(row) and the index of the row's first largest value. */
export function logSumExp(logits: Float32Array, offset: number, vocab: number): { lse: number; argmax: number } {
  let max = logits[offset]!;
  let argmax = 0;
  for (let i = 1; i < vocab; i++) {
    const v = logits[offset + i]!;
    if (v > max) {
      max = v;
      argmax = i;
    }
  }
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(logits[offset + i]! - max);
  return { lse: max + Math.log(sum), argmax };
}

/** Mean and its standard error, as llama-perplexity's mean_and_uncertainty. */
function meanAndError(sum: number, sum2: number, count: number): [number, number] {
  if (count < 1) return [0, 0];
  const mean = sum / count;
  const v = sum2 / count - mean * mean;
  return [mean, v > 0 && count > 10 ? Math.sqrt(v / (count - 1)) : 0];
}

/** Value at `fraction` of sorted `values`, interpolated between neighbours (llama-perplexity's percentile). */
export function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return NaN;
  if (fraction <= 0) return sorted[0]!;
  if (fraction >= 1) return sorted[sorted.length - 1]!;
  const p = fraction * (sorted.length - 1);
  const ip = Math.floor(p);
  const f = p - ip;
  return (1 - f) * sorted[ip]! + f * sorted[Math.min(ip + 1, sorted.length - 1)]!;
}

function median(sorted: Float64Array): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 === 0 ? 0.5 * (sorted[n / 2]! + sorted[n / 2 - 1]!) : sorted[(n - 1) / 2]!;
}

export interface PerplexityResult {
  ppl: number;
  /** Standard error of the PPL (llama-perplexity's "±"). */
  pplError: number;
  /** Mean negative log-likelihood, nats per token. */
  nll: number;
  tokens: number;
}

/** Negative log-likelihoods of scored tokens, summed as llama-perplexity sums them. */
export class PerplexityAccumulator {
  private sum = 0;
  private sum2 = 0;
  private count = 0;

  /** Adds rows j = 0 … targets.length-1 of `logits` ([rows][vocab]), row j predicting targets[j]. */
  add(logits: Float32Array, targets: Int32Array, vocab: number): void {
    for (let j = 0; j < targets.length; j++) {
      const off = j * vocab;
      const nll = logSumExp(logits, off, vocab).lse - logits[off + targets[j]!]!;
      this.sum += nll;
      this.sum2 += nll * nll;
      this.count++;
    }
  }

  result(): PerplexityResult {
    const nll = this.count ? this.sum / this.count : 0;
    const ppl = Math.exp(nll);
    let v = this.count ? this.sum2 / this.count - nll * nll : 0;
    v = v > 0 && this.count > 1 ? Math.sqrt(v / (this.count - 1)) : 0;
    return { ppl, pplError: v * ppl, nll, tokens: this.count };
  }
}

/** llama-perplexity's percentiles, as fractions. */
export const KL_PERCENTILES = [0.999, 0.99, 0.95, 0.9, 0.1, 0.05, 0.01, 0.001] as const;
export const DELTA_P_PERCENTILES = [0.999, 0.99, 0.95, 0.9, 0.75, 0.25, 0.1, 0.05, 0.01, 0.001] as const;

export interface KlReport {
  tokens: number;
  ppl: { quant: number; quantError: number; base: number; baseError: number };
  /** Mean ln(PPL(Q)/PPL(base)) and its error; correlation of the two models' per-token NLLs. */
  lnPplRatio: { mean: number; error: number; correlation: number };
  kld: { mean: number; error: number; max: number; median: number; min: number; percentiles: Record<string, number> };
  /** Δp = p_quant(next token) − p_base(next token), as fractions (not %). */
  deltaP: {
    mean: number;
    error: number;
    rms: number;
    rmsError: number;
    max: number;
    median: number;
    min: number;
    percentiles: Record<string, number>;
  };
  sameTop: { fraction: number; error: number };
}

/** Base log-probabilities below this are left out of the KL sum, as llama-perplexity does. */
const KL_LOG_PROB_FLOOR = -16;

/**
 * KL(base ‖ quant) and the related statistics, position by position. Holds one KL value and one
 * Δp per scored token (8 bytes each as f32 pairs) for the percentiles.
 */
export class KlAccumulator {
  private nll = 0;
  private nll2 = 0;
  private nllBase = 0;
  private nllBase2 = 0;
  private nllCross = 0;
  private kld = 0;
  private kld2 = 0;
  private dp = 0;
  private dp2 = 0;
  private dp4 = 0;
  private sameTop = 0;
  private kldValues: number[] = [];
  private dpValues: number[] = [];

  /** Adds rows j = 0 … targets.length-1 of both models' logits ([rows][vocab]). */
  add(base: Float32Array, quant: Float32Array, targets: Int32Array, vocab: number): void {
    for (let j = 0; j < targets.length; j++) {
      const off = j * vocab;
      const tok = targets[j]!;
      const b = logSumExp(base, off, vocab);
      const q = logSumExp(quant, off, vocab);
      const nll = q.lse - quant[off + tok]!;
      const nllBase = b.lse - base[off + tok]!;
      this.nll += nll;
      this.nll2 += nll * nll;
      this.nllBase += nllBase;
      this.nllBase2 += nllBase * nllBase;
      this.nllCross += nll * nllBase;
      let kl = 0;
      for (let i = 0; i < vocab; i++) {
        const lpBase = base[off + i]! - b.lse;
        if (lpBase > KL_LOG_PROB_FLOOR) kl += Math.exp(lpBase) * (lpBase - (quant[off + i]! - q.lse));
      }
      this.kld += kl;
      this.kld2 += kl * kl;
      if (b.argmax === q.argmax) this.sameTop++;
      const dp = Math.exp(-nll) - Math.exp(-nllBase);
      this.dp += dp;
      this.dp2 += dp * dp;
      this.dp4 += dp * dp * dp * dp;
      this.kldValues.push(kl);
      this.dpValues.push(dp);
    }
  }

  get count(): number {
    return this.kldValues.length;
  }

  report(): KlReport {
    const n = this.count;
    const [lq, lqErr] = meanAndError(this.nll, this.nll2, n);
    const [lb, lbErr] = meanAndError(this.nllBase, this.nllBase2, n);
    const cov = n < 10 ? 0 : (this.nllCross / n - (this.nll / n) * (this.nllBase / n)) / (n - 1);
    const [kl, klErr] = meanAndError(this.kld, this.kld2, n);
    const [dp, dpErr] = meanAndError(this.dp, this.dp2, n);
    const [mse, mseErr] = meanAndError(this.dp2, this.dp4, n);
    const rms = Math.sqrt(mse);
    const kls = Float64Array.from(this.kldValues).sort();
    const dps = Float64Array.from(this.dpValues).sort();
    const same = n ? this.sameTop / n : 0;
    const pct = (sorted: Float64Array, fractions: readonly number[]) =>
      Object.fromEntries(fractions.map((f) => [`${(f * 100).toFixed(1)}%`, percentile(sorted, f)]));
    return {
      tokens: n,
      ppl: { quant: Math.exp(lq), quantError: Math.exp(lq) * lqErr, base: Math.exp(lb), baseError: Math.exp(lb) * lbErr },
      lnPplRatio: {
        mean: lq - lb,
        error: Math.sqrt(Math.max(0, lqErr * lqErr + lbErr * lbErr - 2 * cov)),
        correlation: lqErr > 0 && lbErr > 0 ? cov / (lqErr * lbErr) : 0,
      },
      kld: {
        mean: kl,
        error: klErr,
        max: kls[n - 1] ?? NaN,
        median: median(kls),
        min: kls[0] ?? NaN,
        percentiles: pct(kls, KL_PERCENTILES),
      },
      deltaP: {
        mean: dp,
        error: dpErr,
        rms,
        rmsError: rms > 0 ? (0.5 / rms) * mseErr : 0,
        max: dps[n - 1] ?? NaN,
        median: median(dps),
        min: dps[0] ?? NaN,
        percentiles: pct(dps, DELTA_P_PERCENTILES),
      },
      sameTop: { fraction: same, error: n > 1 ? Math.sqrt((same * (1 - same)) / (n - 1)) : 0 },
    };
  }
}
