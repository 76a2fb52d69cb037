// The batched decode step's RoPE + KV store and attention (SlotRows: one dispatch over every row,
// each row a sequence at its own position in its own slot of shared caches) against the one-token
// kernels a sequence runs alone: the same bits, whatever the other rows hold, and nothing written
// outside each row's own cache row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32, readU32 } from '../../src/gpu/buffers.ts';
import { createDecodeAttention, kvCacheLayerBytes, ATTENTION_LAYOUTS, type SlotRows } from '../../src/kernels/attention.ts';
import { createRope } from '../../src/kernels/rope.ts';
import { createArgmax } from '../../src/kernels/sample.ts';
import { createStepParams } from '../../src/kernels/step-params.ts';
import { build, randn, runStep } from './ops-helpers.ts';

const s = { hd: 32, nh: 4, nkv: 2, maxCtx: 96 };
const cacheElements = kvCacheLayerBytes({ headDim: s.hd, nKvHeads: s.nkv, maxCtx: s.maxCtx }) / 4;
const SLOTS = 3;
// Slots further apart than one cache, as alignment padding makes them.
const stride = cacheElements + 64;
const rows: SlotRows = { maxRows: SLOTS, slotElements: { k: stride, v: stride } };
const shape = { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, maxCtx: s.maxCtx };
// Small chunks, so rows at these positions take 1, 3 and 4 splits of the split-K attention.
const split = { minChunk: 16, maxSplits: 4 };

/** Row r of a step: the sequence in `slot` at position `pos`. */
interface Row {
  slot: number;
  pos: number;
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('batched decode kernels over slot rows', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await requestNodeGpu({ warn: null });
  });
  afterAll(() => ctx?.device.destroy());

  /** Slot i's cache inside the shared buffer. */
  const slotOf = (shared: Float32Array, slot: number) => shared.subarray(slot * stride, slot * stride + cacheElements);
  const rowTable = (step: readonly Row[]) => createStorageBuffer(ctx, new Uint32Array(step.flatMap((r) => [r.pos, r.slot])));

  const attentionSteps: [string, Row[], { minChunk: number; maxSplits: number }?][] = [
    [
      'rows at different positions, some taking several splits',
      [
        { slot: 2, pos: 70 },
        { slot: 0, pos: 3 },
        { slot: 1, pos: 40 },
      ],
    ],
    [
      'rows that all fit one chunk (the single-pass variant)',
      [
        { slot: 1, pos: 9 },
        { slot: 2, pos: 0 },
      ],
    ],
    ['one row at the last position of its context', [{ slot: 0, pos: s.maxCtx - 1 }]],
    [
      'rows whose one chunk spans two tiles of 64 positions',
      [
        { slot: 0, pos: 90 },
        { slot: 2, pos: 64 },
        { slot: 1, pos: 63 },
      ],
      { minChunk: 128, maxSplits: 2 },
    ],
  ];
  // Both layouts of the batched pass 1 (the tiled kernel of one-token decode, a thread per row and head).
  it.each(
    ATTENTION_LAYOUTS.flatMap((layout) => attentionSteps.map(([what, step, chunks = split]) => [layout, what, step, chunks] as const)),
  )('attention (%s layout): %s gives each row its one-token bits', async (layout, _, step, chunks) => {
    const k = randn(SLOTS * stride, 21, 1.5);
    const v = randn(SLOTS * stride, 22, 1.5);
    // Past each row's position its cache holds NaN, which must never be read.
    for (const { slot, pos } of step)
      for (const c of [k, v])
        for (let h = 0; h < s.nkv; h++) slotOf(c, slot).fill(Number.NaN, (h * s.maxCtx + pos + 1) * s.hd, (h + 1) * s.maxCtx * s.hd);
    const q = randn(SLOTS * s.nh * s.hd, 23, 3);
    const kShared = createStorageBuffer(ctx, k);
    const vShared = createStorageBuffer(ctx, v);
    const qBuf = createStorageBuffer(ctx, q);
    const outRows = createStorageBuffer(ctx, new Float32Array(SLOTS * s.nh * s.hd).fill(-7));
    const batched = await build(ctx, () => createDecodeAttention(ctx, { ...shape, ...chunks, rows, layout }));
    const call = batched.bind({
      params: createStepParams(ctx),
      q: qBuf,
      kCache: kShared,
      vCache: vShared,
      output: outRows,
      rows: rowTable(step),
    });
    await runStep(ctx, { pos0: 0, nTokens: step.length, maxPos: Math.max(...step.map((r) => r.pos)) }, call);
    const got = await readF32(ctx, outRows);

    const alone = await build(ctx, () => createDecodeAttention(ctx, { ...shape, ...chunks, layout: 'tiled' }));
    for (const [r, { slot, pos }] of step.entries()) {
      const out = createStorageBuffer(ctx, new Float32Array(SLOTS * s.nh * s.hd));
      const single = alone.bind({
        params: createStepParams(ctx, { pos0: pos, nTokens: 1, row: r }),
        q: qBuf,
        kCache: createStorageBuffer(ctx, slotOf(k, slot)),
        vCache: createStorageBuffer(ctx, slotOf(v, slot)),
        output: out,
      });
      await runStep(ctx, { pos0: pos, nTokens: 1 }, single);
      const row = (a: Float32Array) => a.subarray(r * s.nh * s.hd, (r + 1) * s.nh * s.hd);
      expect(bits(row(got)), `row ${r}`).toEqual(bits(row(await readF32(ctx, out))));
    }
    // Rows past the step's are left as they were.
    expect([...got.subarray(step.length * s.nh * s.hd)].every((x) => x === -7)).toBe(true);
  });

  it('attention: an unknown rows layout, or the rows layout over heads larger than it takes, is refused by name', () => {
    expect(() => createDecodeAttention(ctx, { ...shape, rows, layout: 'lanes' as never })).toThrow(/unknown layout 'lanes'/);
    expect(() => createDecodeAttention(ctx, { ...shape, headDim: 512, rows, layout: 'rows' })).toThrow(/heads of at most 256, got 512/);
  });

  it('RoPE + KV store: each row rotated as alone and written only to its slot at its position', async () => {
    const step: Row[] = [
      { slot: 1, pos: 57 },
      { slot: 0, pos: 0 },
      { slot: 2, pos: s.maxCtx - 1 },
    ];
    const q = randn(SLOTS * s.nh * s.hd, 31, 2);
    const k = randn(SLOTS * s.nkv * s.hd, 32, 2);
    const v = randn(SLOTS * s.nkv * s.hd, 33, 2);
    const before = randn(SLOTS * stride, 34, 9);
    const cfg = { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, neox: false, freqBase: 10000, kvCache: { maxCtx: s.maxCtx } };
    const qRows = createStorageBuffer(ctx, q);
    const kShared = createStorageBuffer(ctx, before);
    const vShared = createStorageBuffer(ctx, before);
    const batched = await build(ctx, () => createRope(ctx, { ...cfg, maxTokens: SLOTS, rows }));
    const params = createStepParams(ctx, { pos0: 0, nTokens: step.length });
    const call = batched.bind({
      params,
      q: qRows,
      k: createStorageBuffer(ctx, k),
      v: createStorageBuffer(ctx, v),
      kCache: kShared,
      vCache: vShared,
      rows: rowTable(step),
    });
    await runStep(ctx, { pos0: 0, nTokens: step.length }, call);
    const [gotQ, gotK, gotV] = await Promise.all([readF32(ctx, qRows), readF32(ctx, kShared), readF32(ctx, vShared)]);

    const alone = await build(ctx, () => createRope(ctx, cfg));
    const wantK = Float32Array.from(before);
    const wantV = Float32Array.from(before);
    for (const [r, { slot, pos }] of step.entries()) {
      const qOne = createStorageBuffer(ctx, q);
      const kc = createStorageBuffer(ctx, slotOf(before, slot));
      const vc = createStorageBuffer(ctx, slotOf(before, slot));
      const one = alone.bind({
        params: createStepParams(ctx, { pos0: pos, nTokens: 1, row: r }),
        q: qOne,
        k: createStorageBuffer(ctx, k),
        v: createStorageBuffer(ctx, v),
        kCache: kc,
        vCache: vc,
      });
      await runStep(ctx, { pos0: pos, nTokens: 1 }, one);
      const row = (a: Float32Array) => a.subarray(r * s.nh * s.hd, (r + 1) * s.nh * s.hd);
      expect(bits(row(gotQ)), `q row ${r}`).toEqual(bits(row(await readF32(ctx, qOne))));
      wantK.set(await readF32(ctx, kc), slot * stride);
      wantV.set(await readF32(ctx, vc), slot * stride);
    }
    // Each slot's cache as its sequence alone leaves it: its row written, every other value (and
    // the padding between slots) as it was.
    expect(bits(gotK)).toEqual(bits(wantK));
    expect(bits(gotV)).toEqual(bits(wantV));
    expect(bits(gotK)).not.toEqual(bits(before));
  });

  it('argmax over rows: each row the token the one-row argmax picks, ties and NaN included; rows past the step untouched', async () => {
    const vocab = 1000;
    const logits = randn(4 * vocab, 41, 5);
    logits[vocab + 17] = 50; // row 1: a tie, the lower index wins
    logits[vocab + 900] = 50;
    logits[2 * vocab + 3] = Number.NaN; // row 2: NaN never wins
    logits[2 * vocab + 998] = 60;
    const out = createStorageBuffer(ctx, new Uint32Array(4).fill(12345));
    const rowsArgmax = await build(ctx, () => createArgmax(ctx, { vocab, rows: 4 }));
    const all = createStorageBuffer(ctx, logits);
    await runStep(ctx, { pos0: 0, nTokens: 3 }, rowsArgmax.bind({ params: createStepParams(ctx), logits: all, out }));
    const got = await readU32(ctx, out);
    const one = await build(ctx, () => createArgmax(ctx, { vocab }));
    for (let r = 0; r < 3; r++) {
      const chosen = createStorageBuffer(ctx, 4);
      const row = createStorageBuffer(ctx, logits.subarray(r * vocab, (r + 1) * vocab));
      const history = createStorageBuffer(ctx, 16);
      await runStep(ctx, undefined, one.bind({ params: createStepParams(ctx), logits: row, out: chosen, history }));
      expect(got[r], `row ${r}`).toBe((await readU32(ctx, chosen))[0]);
    }
    expect([got[1], got[2], got[3]]).toEqual([17, 998, 12345]);
  });

  it('a rows kernel needs its row table, and rows need the fused KV store', async () => {
    const batched = createDecodeAttention(ctx, { ...shape, rows });
    const b = createStorageBuffer(ctx, 4 * SLOTS * stride);
    expect(() => batched.bind({ params: createStepParams(ctx), q: b, kCache: b, vCache: b, output: b })).toThrow(/rows binding/);
    expect(() => createRope(ctx, { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, neox: false, rows })).toThrow(/kvCache/);
    expect(() => createDecodeAttention(ctx, { ...shape, rows: { maxRows: 2, slotElements: { k: 6, v: 8 } } })).toThrow(/multiples of 4/);
  });
});
