// checkKernelWeight and checkWeightPart (src/kernels/matmul.ts): every mat-vec / mat-mul kernel checks a weight's parts
// with them before binding a weight, so the wrong weight, a part out of order, empty, or too small for its rows is a
// ModelFormatError naming the weight and the part, never a bind of the wrong bytes.
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.ts';
import type { GpuWeight } from '../../src/gpu/weights.ts';
import { checkKernelWeight, checkWeightPart } from '../../src/kernels/matmul.ts';
import { GGMLType } from '../../src/quant/types.ts';

const ROW_BYTES = 144;

function weight(parts: { rowStart: number; rowCount: number; bytes: number }[]): GpuWeight {
  return {
    name: 'blk.0.ffn_up.weight',
    parts: parts.map((p) => ({ rowStart: p.rowStart, rowCount: p.rowCount, buffer: { size: p.bytes } as GPUBuffer })),
  } as unknown as GpuWeight;
}

function coverAll(w: GpuWeight): number {
  let covered = 0;
  w.parts.forEach((_, i) => (covered = checkWeightPart(w, i, covered, ROW_BYTES)));
  return covered;
}

describe('checkWeightPart', () => {
  it('returns the rows covered, part after part', () => {
    expect(
      coverAll(
        weight([
          { rowStart: 0, rowCount: 3, bytes: 3 * ROW_BYTES },
          { rowStart: 3, rowCount: 2, bytes: 2 * ROW_BYTES + 16 },
        ]),
      ),
    ).toBe(5);
  });

  it.each([
    [
      'a gap between parts',
      [
        { rowStart: 0, rowCount: 3, bytes: 3 * ROW_BYTES },
        { rowStart: 4, rowCount: 1, bytes: ROW_BYTES },
      ],
      /part 1 starts at row 4, expected 3/,
    ],
    [
      'an overlap',
      [
        { rowStart: 0, rowCount: 3, bytes: 3 * ROW_BYTES },
        { rowStart: 2, rowCount: 1, bytes: ROW_BYTES },
      ],
      /part 1 starts at row 2, expected 3/,
    ],
    ['an empty part', [{ rowStart: 0, rowCount: 0, bytes: 0 }], /part 0 starts at row 0, expected 0/],
    ['a buffer one byte short', [{ rowStart: 0, rowCount: 2, bytes: 2 * ROW_BYTES - 1 }], /part 0 buffer holds 287 bytes, 2 rows need 288/],
  ])('refuses %s with a ModelFormatError naming the weight', (_what, parts, message) => {
    const w = weight(parts);
    expect(() => coverAll(w)).toThrow(ModelFormatError);
    expect(() => coverAll(w)).toThrow(/weight "blk\.0\.ffn_up\.weight"/);
    expect(() => coverAll(w)).toThrow(message);
  });
});

describe('checkKernelWeight', () => {
  const kernel = { type: GGMLType.Q4_0, rows: 4, cols: 64 };
  const q4 = (over: Partial<{ type: number; rows: number; cols: number; rowBytes: number; parts: number }> = {}) =>
    ({
      name: 'blk.0.attn_q.weight',
      type: over.type ?? GGMLType.Q4_0,
      rows: over.rows ?? 4,
      cols: over.cols ?? 64,
      rowBytes: over.rowBytes ?? 36,
      parts: Array.from({ length: over.parts ?? 1 }, () => ({})),
    }) as unknown as GpuWeight;

  it('accepts the weight the kernel was built for', () => {
    expect(() => checkKernelWeight('int8 mat-vec', kernel, q4(), 36, { split: [2, 2] })).not.toThrow();
  });

  it.each([
    [
      'another type',
      q4({ type: GGMLType.Q8_0 }),
      {},
      /int8 mat-vec for Q4_0 4×64 cannot run weight "blk\.0\.attn_q\.weight" \(Q8_0 4×64\)/,
    ],
    ['another shape', q4({ rows: 5 }), {}, /cannot run weight .*\(Q4_0 5×64\)/],
    ['rows of another size', q4({ rowBytes: 40 }), {}, /rows of 40 bytes, the Q4_0 kernel expects 36/],
    ['a fused weight in two parts', q4({ parts: 2 }), { glu: 'silu' as const }, /is in 2 parts; a fused kernel takes one/],
  ])('refuses %s with a ModelFormatError', (_what, w, fuse, message) => {
    expect(() => checkKernelWeight('int8 mat-vec', kernel, w, 36, fuse)).toThrow(ModelFormatError);
    expect(() => checkKernelWeight('int8 mat-vec', kernel, w, 36, fuse)).toThrow(message);
  });
});
