// checkWeightPart (src/kernels/matmul.ts): every mat-vec / mat-mul kernel checks a weight's parts
// with it before binding them, so a part out of order, empty, or too small for its rows is a
// ModelFormatError naming the weight and the part, never a bind of the wrong bytes.
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.ts';
import type { GpuWeight } from '../../src/gpu/weights.ts';
import { checkWeightPart } from '../../src/kernels/matmul.ts';

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
