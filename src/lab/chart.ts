/**
 * Geometry of the lab's chart: quality (PPL or KL against the base, on a log scale) against bits
 * per weight, one labelled point per model, the base model as a reference line. Pure numbers, so
 * the layout is unit-tested; lab-chart.ts draws it as plain SVG.
 */

export type QualityAxis = 'ppl' | 'kl';

export interface ChartInput {
  label: string;
  bitsPerWeight: number;
  /** PPL or KL, by the chart's axis. */
  value: number;
}

export interface ChartOptions {
  axis: QualityAxis;
  width: number;
  height: number;
  /** The base model: its PPL (a horizontal line) and bits per weight (a vertical line on the KL axis). */
  base?: { label: string; bitsPerWeight: number; ppl: number };
}

export interface PlacedPoint extends ChartInput {
  x: number;
  y: number;
  /** Where the point's label starts (left end, baseline). */
  labelX: number;
  labelY: number;
}

export interface Tick {
  value: number;
  /** Pixel position along the tick's axis. */
  at: number;
  text: string;
}

export interface ChartLayout {
  width: number;
  height: number;
  plot: { left: number; top: number; right: number; bottom: number };
  points: PlacedPoint[];
  xTicks: Tick[];
  yTicks: Tick[];
  reference?: { orientation: 'horizontal' | 'vertical'; at: number; text: string };
  /** Points that cannot sit on a log axis (a value ≤ 0 or not finite), by label. */
  omitted: string[];
  yTitle: string;
  xTitle: string;
}

const MARGIN = { left: 64, right: 24, top: 16, bottom: 44 };
/** Label text height and width per character, for keeping labels apart (the SVG uses 12 px text). */
const LABEL_HEIGHT = 13;
const LABEL_CHAR_WIDTH = 7;

/** 1, 2, 5 × 10^k values in [lo, hi]; at least the decade ends around them. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

/** Tick values 0, step, 2·step… ≤ hi with a step of 1, 2, 4 or 8 giving at most ~8 ticks. */
export function linearTicks(hi: number): number[] {
  const step = [1, 2, 4, 8, 16].find((s) => hi / s <= 8) ?? 32;
  const out: number[] = [];
  for (let v = 0; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

/** A value as a short tick text: 3 significant digits, exponent form when tiny. */
export function tickText(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

export function layoutChart(inputs: readonly ChartInput[], opts: ChartOptions): ChartLayout {
  const plot = { left: MARGIN.left, top: MARGIN.top, right: opts.width - MARGIN.right, bottom: opts.height - MARGIN.bottom };
  const shown = inputs.filter((p) => Number.isFinite(p.value) && p.value > 0 && Number.isFinite(p.bitsPerWeight) && p.bitsPerWeight >= 0);
  const omitted = inputs.filter((p) => !shown.includes(p)).map((p) => p.label);
  const refPpl = opts.axis === 'ppl' && opts.base && opts.base.ppl > 0 ? opts.base.ppl : undefined;

  const values = shown.map((p) => p.value);
  if (refPpl !== undefined) values.push(refPpl);
  // Half a decade of room either side in log space (less when the spread is wide), one decade at least.
  let lo = values.length ? Math.min(...values) : opts.axis === 'ppl' ? 1 : 1e-4;
  let hi = values.length ? Math.max(...values) : lo * 10;
  const pad = Math.max(0.05, 0.08 * Math.log10(hi / lo));
  lo = 10 ** (Math.log10(lo) - pad);
  hi = 10 ** (Math.log10(hi) + pad);
  if (hi / lo < 10) {
    const mid = Math.sqrt(hi * lo);
    lo = mid / Math.sqrt(10);
    hi = mid * Math.sqrt(10);
  }
  const bpws = shown.map((p) => p.bitsPerWeight);
  if (opts.base) bpws.push(opts.base.bitsPerWeight);
  const xMax = Math.max(8, ...bpws.filter(Number.isFinite)) * 1.05;

  const x = (bpw: number) => plot.left + (bpw / xMax) * (plot.right - plot.left);
  const y = (v: number) => plot.bottom - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (plot.bottom - plot.top);

  // Labels right of their point; one that would overlap an earlier label moves down a line.
  const placed: PlacedPoint[] = [];
  for (const p of [...shown].sort((a, b) => a.bitsPerWeight - b.bitsPerWeight || b.value - a.value)) {
    const px = x(p.bitsPerWeight);
    const py = y(p.value);
    let labelY = py - 6;
    const labelX = px + 6;
    const width = p.label.length * LABEL_CHAR_WIDTH;
    for (let tries = 0; tries < 8; tries++) {
      const clash = placed.some(
        (q) =>
          Math.abs(q.labelY - labelY) < LABEL_HEIGHT && labelX < q.labelX + q.label.length * LABEL_CHAR_WIDTH && q.labelX < labelX + width,
      );
      if (!clash) break;
      labelY += LABEL_HEIGHT;
    }
    placed.push({ ...p, x: px, y: py, labelX, labelY });
  }

  let reference: ChartLayout['reference'];
  if (refPpl !== undefined) {
    reference = { orientation: 'horizontal', at: y(refPpl), text: `${opts.base!.label}: PPL ${refPpl.toFixed(4)}` };
  } else if (opts.base) {
    reference = { orientation: 'vertical', at: x(opts.base.bitsPerWeight), text: `${opts.base.label}: KL 0` };
  }

  return {
    width: opts.width,
    height: opts.height,
    plot,
    points: placed,
    xTicks: linearTicks(xMax).map((v) => ({ value: v, at: x(v), text: tickText(v) })),
    yTicks: logTicks(lo, hi).map((v) => ({ value: v, at: y(v), text: tickText(v) })),
    reference,
    omitted,
    xTitle: 'bits per weight',
    yTitle: opts.axis === 'ppl' ? 'perplexity (log scale)' : 'KL vs base, nats/token (log scale)',
  };
}
