/** Summaries of repeated measurements: the median, the range and the relative median absolute deviation. */

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Median absolute deviation from the median, as a fraction of the median (0.05 = ±5%). */
  mad: number;
  /** How many values were summarised. */
  n: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function spread(values: readonly number[]): Spread {
  const m = median(values);
  const mad = median(values.map((v) => Math.abs(v - m)));
  return { median: m, min: Math.min(...values), max: Math.max(...values), mad: m === 0 ? 0 : mad / Math.abs(m), n: values.length };
}

/** Element-wise a[i] ÷ b[i] of two series measured in the same rounds. */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new Error(`paired series differ in length: ${a.length} vs ${b.length}`);
  return a.map((v, i) => v / b[i]!);
}
