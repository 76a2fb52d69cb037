import { describe, expect, it } from 'vitest';
import { layoutChart, linearTicks, logTicks, tickText, type ChartInput } from '../../src/lab/chart.ts';

const POINTS: ChartInput[] = [
  { label: 'Q8_0', bitsPerWeight: 8.5, value: 5.2037 },
  { label: 'Q4_K_M', bitsPerWeight: 4.9, value: 5.2282 },
  { label: 'Q2_K', bitsPerWeight: 3.1, value: 5.6379 },
  { label: 'TQ2_0', bitsPerWeight: 2.2, value: 52.0 },
];
const BASE = { label: 'F16 base', bitsPerWeight: 16, ppl: 5.2035 };

describe('lab chart geometry', () => {
  it('puts one point per model inside the plot, higher quality loss higher up, more bits further right', () => {
    const c = layoutChart(POINTS, { axis: 'ppl', width: 640, height: 360, base: BASE });
    expect(c.points.map((p) => p.label).sort()).toEqual(['Q2_K', 'Q4_K_M', 'Q8_0', 'TQ2_0']);
    for (const p of c.points) {
      expect(p.x).toBeGreaterThanOrEqual(c.plot.left);
      expect(p.x).toBeLessThanOrEqual(c.plot.right);
      expect(p.y).toBeGreaterThanOrEqual(c.plot.top);
      expect(p.y).toBeLessThanOrEqual(c.plot.bottom);
    }
    const at = (l: string) => c.points.find((p) => p.label === l)!;
    expect(at('TQ2_0').y).toBeLessThan(at('Q2_K').y);
    expect(at('Q2_K').y).toBeLessThan(at('Q8_0').y);
    expect(at('Q8_0').x).toBeGreaterThan(at('Q4_K_M').x);
    // bits per weight is linear: x is proportional to bpw from the left edge.
    const scale = (at('Q8_0').x - c.plot.left) / 8.5;
    expect(at('Q2_K').x - c.plot.left).toBeCloseTo(3.1 * scale, 6);
  });

  it('is a log scale on quality: equal ratios are equal distances', () => {
    const pts = [
      { label: 'a', bitsPerWeight: 2, value: 0.001 },
      { label: 'b', bitsPerWeight: 4, value: 0.01 },
      { label: 'c', bitsPerWeight: 8, value: 0.1 },
    ];
    const c = layoutChart(pts, { axis: 'kl', width: 500, height: 300 });
    const y = (l: string) => c.points.find((p) => p.label === l)!.y;
    expect(y('a') - y('b')).toBeCloseTo(y('b') - y('c'), 6);
    expect(c.yTicks.map((t) => t.value)).toEqual(expect.arrayContaining([0.001, 0.01, 0.1]));
    expect(c.yTitle).toMatch(/KL/);
  });

  it('draws the base as a horizontal PPL line, or a vertical line at its bits per weight on the KL axis', () => {
    const ppl = layoutChart(POINTS, { axis: 'ppl', width: 640, height: 360, base: BASE });
    expect(ppl.reference?.orientation).toBe('horizontal');
    const q8 = ppl.points.find((p) => p.label === 'Q8_0')!;
    // Q8_0's PPL is within 0.01 % of the base's: on the line, to the pixel.
    expect(Math.abs(ppl.reference!.at - q8.y)).toBeLessThan(1);
    expect(ppl.reference!.text).toContain('5.2035');
    const kl = layoutChart(
      POINTS.map((p) => ({ ...p, value: p.value / 1000 })),
      { axis: 'kl', width: 640, height: 360, base: BASE },
    );
    expect(kl.reference?.orientation).toBe('vertical');
    expect(kl.reference!.at).toBeGreaterThan(kl.points.find((p) => p.label === 'Q8_0')!.x);
  });

  it('leaves out values a log axis cannot show, and names them', () => {
    const c = layoutChart(
      [
        { label: 'ok', bitsPerWeight: 4, value: 0.02 },
        { label: 'zero', bitsPerWeight: 8, value: 0 },
        { label: 'nan', bitsPerWeight: 3, value: NaN },
      ],
      { axis: 'kl', width: 400, height: 300 },
    );
    expect(c.points.map((p) => p.label)).toEqual(['ok']);
    expect(c.omitted).toEqual(['zero', 'nan']);
  });

  it('keeps labels of points that nearly coincide apart', () => {
    const c = layoutChart(
      [
        { label: 'Q8_0', bitsPerWeight: 8.5, value: 5.2037 },
        { label: 'Q8_0-other', bitsPerWeight: 8.5, value: 5.2036 },
      ],
      { axis: 'ppl', width: 640, height: 360, base: BASE },
    );
    const [a, b] = c.points;
    expect(Math.abs(a!.labelY - b!.labelY)).toBeGreaterThanOrEqual(13);
  });

  it('ticks', () => {
    expect(logTicks(0.8, 30)).toEqual([1, 2, 5, 10, 20]);
    expect(linearTicks(17)).toEqual([0, 4, 8, 12, 16]);
    expect(linearTicks(8.4)).toEqual([0, 2, 4, 6, 8]);
    expect(tickText(0.0001)).toBe('1e-4');
    expect(tickText(5.2035)).toBe('5.2');
  });
});
