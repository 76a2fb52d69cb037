// On-device autotuning (src/kernels/autotune.ts): the candidates the device offers, the noise guard,
// a choice that is always one of the candidates, the cache (reused without timing, invalidated by
// another adapter or model shape, a hostile record ignored), and the store records behind it.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import {
  autotune,
  autotuneKey,
  chooseCandidate,
  gemmCandidates,
  int8GemmTileFor,
  type LinearShape,
  linearShapes,
  matvecCandidates,
  parseTuneRecord,
  serializeTuneChoice,
  type TuneFamily,
  type TuneResult,
  tuneKernels,
} from '../../src/kernels/autotune.ts';
import { resolveVariant } from '../../src/kernels/matmul.ts';
import { defaultGemmTile } from '../../src/kernels/matmul-tiled.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import { gpuBlockGeometry } from '../../src/quant/gpu-decoders.ts';
import { getGpuQuantType } from '../../src/quant/table.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testGpu();
});
afterAll(releaseTestGpu);

// Small shapes of a mixed model (two types, three shapes): quick to time on a software adapter.
const SHAPES: LinearShape[] = linearShapes([
  { type: GGMLType.Q4_0, rows: 128, cols: 256 },
  { type: GGMLType.Q4_0, rows: 128, cols: 256 },
  { type: GGMLType.Q4_0, rows: 256, cols: 128 },
  { type: GGMLType.Q8_0, rows: 128, cols: 256 },
]);
/** Rounds and budget large enough that every family is timed here. */
const HEADS = { headDim: 32, nHeads: 8, nKvHeads: 4 };
const FAST = { maxBatch: 16, rounds: 3, budgetTokens: 1e6, budgetMs: 60_000, minBatchMs: 2, maxCandidates: 3, attention: HEADS };
const key = (v: object) => JSON.stringify(v, Object.keys(v).sort());

/** A device that differs from `ctx` only in what its adapter reports. */
const otherAdapter = (c: GpuContext): GpuContext => ({
  ...c,
  adapterInfo: { ...c.adapterInfo, description: `${c.adapterInfo.description} v2` },
});

function expectValidChoice(r: TuneResult) {
  for (const [t, v] of Object.entries(r.variants.matvec ?? {})) {
    expect(matvecCandidates(ctx, r.activations).map(key)).toContain(key(v!));
    expect(SHAPES.some((s) => s.type === Number(t))).toBe(true);
  }
  for (const [t, tile] of Object.entries(r.variants.gemm ?? {})) {
    const shapes = SHAPES.filter((s) => s.type === Number(t));
    expect(gemmCandidates(ctx, shapes).map(key)).toContain(key(tile!));
  }
  for (const [t, tile] of Object.entries(r.variants.gemm8 ?? {})) {
    expect(r.activations).toBe('int8');
    expect(key(tile!)).toBe(
      key(
        int8GemmTileFor(
          ctx,
          SHAPES.filter((s) => s.type === Number(t)),
        )!,
      ),
    );
  }
}

describe('candidates', () => {
  it('counts each shape once, with how many linears have it', () => {
    expect(SHAPES).toEqual([
      { type: GGMLType.Q4_0, rows: 128, cols: 256, count: 2 },
      { type: GGMLType.Q4_0, rows: 256, cols: 128, count: 1 },
      { type: GGMLType.Q8_0, rows: 128, cols: 256, count: 1 },
    ]);
  });

  it('mat-vec: the device default first, then distinct variants the device accepts', () => {
    for (const act of ['f32', 'int8'] as const) {
      const c = matvecCandidates(ctx, act);
      expect(c.length).toBeGreaterThan(1);
      expect(key(c[0]!)).toBe(key(resolveVariant(ctx, 'matvec', act === 'int8' ? { shareInput: false } : undefined)));
      expect(new Set(c.map(key)).size).toBe(c.length);
      for (const v of c) expect(key(resolveVariant(ctx, 'matvec', v))).toBe(key(v));
      if (act === 'int8') expect(c.every((v) => !v.shareInput)).toBe(true);
    }
  });

  it('GEMM: the default tile first, only tiles every shape of the type can run', () => {
    const q4 = SHAPES.filter((s) => s.type === GGMLType.Q4_0);
    const entry = getGpuQuantType(GGMLType.Q4_0);
    const tiles = gemmCandidates(ctx, q4);
    expect(key(tiles[0]!)).toBe(key(defaultGemmTile(ctx, gpuBlockGeometry(entry.layout, entry.gpu, 256).gemmChunkVec4s)));
    expect(tiles.length).toBeGreaterThan(1);
  });
});

describe('noise guard', () => {
  const base = [10, 11, 10, 12, 10];
  it('keeps the default when no candidate wins by the margin', () => {
    expect(chooseCandidate([base, base.map((v) => v * 0.95)], 0.08)).toBe(0);
    expect(chooseCandidate([base, base], 0.08)).toBe(0);
  });
  it('keeps the default when a candidate wins on median but loses too many rounds', () => {
    expect(chooseCandidate([base, [5, 5, 5, 13, 13]], 0.08)).toBe(0);
  });
  it('takes the clearest winner', () => {
    expect(chooseCandidate([base, base.map((v) => v * 0.8), base.map((v) => v * 0.6), base.map((v) => v * 1.5)], 0.08)).toBe(2);
    // Faster in 4 of 5 rounds (80%) is enough.
    expect(chooseCandidate([base, [5, 5, 5, 5, 13]], 0.08)).toBe(1);
  });
});

describe('tuning on this device', () => {
  it('times every family and chooses one of its candidates', async () => {
    const timed: [TuneFamily, string | undefined][] = [];
    const r = await tuneKernels(ctx, SHAPES, { ...FAST, onFamily: (f, t) => timed.push([f, t]) });
    expect(r.source).toBe('measured');
    expect(timed).toEqual(
      expect.arrayContaining([
        ['matvec', 'Q4_0'],
        ['matvec', 'Q8_0'],
        ['gemm', 'Q4_0'],
        ['gemm', 'Q8_0'],
        ['attention', undefined],
      ]),
    );
    // Prefill attention's layouts, this device's default first.
    const attention = r.families.find((f) => f.family === 'attention')!;
    expect(attention.candidates.map((c) => c.label)).toEqual(ctx.isSoftware ? ['rows', 'tiled'] : ['tiled', 'rows']);
    expect(r.variants.attention).toBe(attention.chosen ? attention.candidates[attention.chosen]!.label : undefined);
    if (ctx.hasPackedInt8Dot) expect(timed).toContainEqual(['activations', undefined]);
    for (const f of r.families) {
      expect(f.skipped).toBeUndefined();
      expect(f.candidates.length).toBeGreaterThan(1);
      expect(f.chosen).toBeGreaterThanOrEqual(0);
      expect(f.chosen).toBeLessThan(f.candidates.length);
      expect(f.candidates[0]!.ratio.median).toBe(1);
      for (const c of f.candidates) expect(c.ms.median).toBeGreaterThan(0);
    }
    expect(['f32', 'int8']).toContain(r.activations);
    expectValidChoice(r);
    // First in the file: it compiles every candidate's pipeline (about a minute on a software adapter).
  }, 300_000);

  it('keeps the defaults of families that would start past the budget', async () => {
    const r = await tuneKernels(ctx, SHAPES, { ...FAST, budgetTokens: 0, budgetMs: 0 });
    expect(r.families.length).toBeGreaterThan(0);
    for (const f of r.families) expect(f.skipped).toMatch(/budget|one candidate/);
    expect(r.variants).toEqual({ matvec: {}, gemm: {} });
  });

  it('keeps activations the user chose and does not time them', async () => {
    const r = await tuneKernels(ctx, SHAPES, { ...FAST, activations: 'f32', maxBatch: 1 });
    expect(r.activations).toBe('f32');
    expect(r.families.map((f) => f.family)).not.toContain('activations');
    expect(r.families.map((f) => f.family)).not.toContain('gemm'); // no prefill at maxBatch 1
  });
});

describe('cache', () => {
  it('is written once, then reused without timing', async () => {
    const store = new MemoryModelStore();
    let families = 0;
    const o = { ...FAST, cache: store, onFamily: () => families++ };
    const first = await autotune(ctx, SHAPES, o);
    expect(first.source).toBe('measured');
    expect(families).toBeGreaterThan(0);
    expect(await store.readRecord(first.key)).toBeDefined();
    families = 0;
    const second = await autotune(ctx, SHAPES, o);
    expect(second.source).toBe('cache');
    expect(families).toBe(0);
    expect(second.ms).toBe(0);
    expect(second.variants).toEqual(first.variants);
    expect(second.activations).toBe(first.activations);
    // 'retune' times again despite the record.
    const again = await autotune(ctx, SHAPES, { ...o, mode: 'retune' });
    expect(again.source).toBe('measured');
    expect(families).toBeGreaterThan(0);
  });

  it('is keyed by adapter, driver, model shapes and options', async () => {
    const store = new MemoryModelStore();
    const first = await autotune(ctx, SHAPES, { ...FAST, cache: store });
    const k = first.key;
    expect(autotuneKey(otherAdapter(ctx), SHAPES, FAST)).not.toBe(k);
    expect(autotuneKey(ctx, SHAPES.slice(1), FAST)).not.toBe(k);
    expect(autotuneKey(ctx, SHAPES, { ...FAST, maxBatch: 32 })).not.toBe(k);
    expect(autotuneKey(ctx, SHAPES, { ...FAST, activations: 'f32' })).not.toBe(k);
    expect(autotuneKey(ctx, SHAPES, { ...FAST, attention: { ...HEADS, nKvHeads: 2 } })).not.toBe(k);
    // Another adapter / another shape set misses the cache and is timed.
    expect((await autotune(otherAdapter(ctx), SHAPES, { ...FAST, cache: store })).source).toBe('measured');
    expect((await autotune(ctx, SHAPES.slice(0, 2), { ...FAST, cache: store })).source).toBe('measured');
    expect((await autotune(ctx, SHAPES, { ...FAST, cache: store })).source).toBe('cache');
  });

  it('ignores hostile or stale records, times again and replaces them', async () => {
    const k = autotuneKey(ctx, SHAPES, FAST);
    const valid = JSON.parse(serializeTuneChoice(k, { activations: 'f32', variants: {} })) as Record<string, unknown>;
    const q4 = GGMLType.Q4_0;
    const hostile: string[] = [
      'not json {',
      'null',
      '[]',
      JSON.stringify({ ...valid, version: 999 }),
      JSON.stringify({ ...valid, key: 'another key' }),
      JSON.stringify({ ...valid, activations: 'int4' }),
      JSON.stringify({ ...valid, variants: 'x' }),
      // A variant the device never offered: an oversized workgroup, an unknown mode.
      JSON.stringify({ ...valid, variants: { matvec: { [q4]: { ...matvecCandidates(ctx)[0]!, workgroupSize: 1 << 20 } } } }),
      JSON.stringify({ ...valid, variants: { matvec: { [q4]: { mode: 'evil' } } } }),
      // A type the model does not have; a tile that is no candidate.
      JSON.stringify({ ...valid, variants: { matvec: { [GGMLType.Q6_K]: matvecCandidates(ctx)[0] } } }),
      JSON.stringify({
        ...valid,
        variants: { gemm: { [q4]: { rowThreads: 1024, tokenThreads: 1, rowsPerThread: 64, tokensPerThread: 64 } } },
      }),
      JSON.stringify({ ...valid, variants: { gemm: { __proto__: 1, [q4]: null } } }),
      // A prefill attention layout that does not exist.
      JSON.stringify({ ...valid, variants: { attention: 'evil' } }),
      JSON.stringify({ ...valid, variants: { attention: ['rows'] } }),
      'x'.repeat(70 * 1024),
    ];
    for (const text of hostile) expect(parseTuneRecord(text, k, ctx, SHAPES, FAST), text.slice(0, 80)).toBeUndefined();
    // A valid variant beyond the candidates this load would time (maxCandidates) is refused too.
    const late = matvecCandidates(ctx, 'f32').at(-1)!;
    expect(
      parseTuneRecord(serializeTuneChoice(k, { activations: 'f32', variants: { matvec: { [q4]: late } } }), k, ctx, SHAPES, FAST),
    ).toBeUndefined();
    // A layout for a load with no prefill or no heads given, or one this head size cannot run.
    const rowsRecord = serializeTuneChoice(k, { activations: 'f32', variants: { attention: 'rows' } });
    expect(parseTuneRecord(rowsRecord, k, ctx, SHAPES, { ...FAST, maxBatch: 1 })).toBeUndefined();
    expect(parseTuneRecord(rowsRecord, k, ctx, SHAPES, { ...FAST, attention: undefined })).toBeUndefined();
    expect(parseTuneRecord(rowsRecord, k, ctx, SHAPES, { ...FAST, attention: { ...HEADS, headDim: 512 } })).toBeUndefined();
    expect(parseTuneRecord(rowsRecord, k, ctx, SHAPES, FAST)).toEqual({
      activations: 'f32',
      variants: { matvec: {}, gemm: {}, attention: 'rows' },
    });
    // Activations forced by the user that the record contradicts.
    expect(
      parseTuneRecord(serializeTuneChoice(k, { activations: 'int8', variants: {} }), k, ctx, SHAPES, { activations: 'f32' }),
    ).toBeUndefined();
    // The valid one parses, to values of this device's candidate lists.
    const tile = gemmCandidates(
      ctx,
      SHAPES.filter((s) => s.type === q4),
    )[1]!;
    const mv = matvecCandidates(ctx, 'f32')[1]!;
    const good = parseTuneRecord(
      serializeTuneChoice(k, { activations: 'f32', variants: { matvec: { [q4]: mv }, gemm: { [q4]: tile } } }),
      k,
      ctx,
      SHAPES,
      FAST,
    );
    expect(good).toEqual({ activations: 'f32', variants: { matvec: { [q4]: mv }, gemm: { [q4]: tile } } });

    // Through autotune: a corrupt record is replaced by a measured one.
    const store = new MemoryModelStore();
    await store.writeRecord(k, hostile[7]!);
    const r = await autotune(ctx, SHAPES, { ...FAST, cache: store });
    expect(r.source).toBe('measured');
    expectValidChoice(r);
    expect(parseTuneRecord(await store.readRecord(k), k, ctx, SHAPES, FAST)).toBeDefined();
  });

  it('a cache that fails to read or write only costs a re-tune', async () => {
    const failing = {
      readRecord: () => Promise.reject(new Error('disk gone')),
      writeRecord: () => Promise.reject(new Error('quota')),
    };
    const r = await autotune(ctx, SHAPES, { ...FAST, maxBatch: 1, activations: 'f32', cache: failing });
    expect(r.source).toBe('measured');
  });
});

describe('store records', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lowbit-records-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fs: round-trips, is no model, and a file holding another key reads as absent', async () => {
    const store = new FsModelStore(dir);
    expect(await store.readRecord('k1')).toBeUndefined();
    await store.writeRecord('k1', 'hello');
    await store.writeRecord('../../etc/passwd', 'x'); // keys are hashed: no path from a key
    expect(await store.readRecord('k1')).toBe('hello');
    expect(await store.readRecord('../../etc/passwd')).toBe('x');
    expect(await store.listManifests()).toEqual([]);
    const files = await readdir(join(dir, '.records'));
    expect(files.every((f) => /^[0-9a-f]{64}\.json$/.test(f))).toBe(true);
    // Swap the two files' contents: each now names the other key.
    for (const f of files) await writeFile(join(dir, '.records', f), JSON.stringify({ key: 'someone else', text: 'evil' }));
    expect(await store.readRecord('k1')).toBeUndefined();
    await writeFile(join(dir, '.records', files[0]!), 'garbage');
    expect(await store.readRecord('k1')).toBeUndefined();
    await expect(store.writeRecord('k1', 'y'.repeat(70 * 1024))).rejects.toThrow(RangeError);
  });

  it('memory: round-trips and refuses oversized records', async () => {
    const store = new MemoryModelStore();
    await store.writeRecord('k', 'v');
    expect(await store.readRecord('k')).toBe('v');
    await expect(store.writeRecord('', 'v')).rejects.toThrow(RangeError);
    await expect(store.writeRecord('k', 'y'.repeat(70 * 1024))).rejects.toThrow(RangeError);
  });
});

describe('int8 GEMM in the gemm family', () => {
  it('with int8 activations the int8 GEMM competes with the f32 tiles, and a record of it is checked', async () => {
    const r = await tuneKernels(ctx, SHAPES, { ...FAST, activations: 'int8' });
    expect(r.activations).toBe('int8');
    const gemm = r.families.filter((f) => f.family === 'gemm');
    expect(gemm.length).toBe(2);
    for (const f of gemm) expect(f.candidates.at(-1)!.label.startsWith('int8 ')).toBe(true);
    expectValidChoice(r);
    // f32 activations: no int8 candidate.
    const f32 = await tuneKernels(ctx, SHAPES, { ...FAST, activations: 'f32' });
    for (const f of f32.families.filter((x) => x.family === 'gemm'))
      expect(f.candidates.some((c) => c.label.startsWith('int8 '))).toBe(false);

    const q4 = GGMLType.Q4_0;
    const tile8 = int8GemmTileFor(
      ctx,
      SHAPES.filter((s) => s.type === q4),
    )!;
    const k = autotuneKey(ctx, SHAPES, { ...FAST, activations: 'int8' });
    const opts = { ...FAST, activations: 'int8' as const };
    const good = serializeTuneChoice(k, { activations: 'int8', variants: { gemm8: { [q4]: tile8 } } });
    expect(parseTuneRecord(good, k, ctx, SHAPES, opts)).toEqual({
      activations: 'int8',
      variants: { matvec: {}, gemm: {}, gemm8: { [q4]: tile8 } },
    });
    // Another tile, a type the model lacks, or the int8 GEMM under f32 activations: refused.
    for (const bad of [
      { activations: 'int8' as const, variants: { gemm8: { [q4]: { ...tile8, tokensPerThread: 4096 } } } },
      { activations: 'int8' as const, variants: { gemm8: { [GGMLType.Q6_K]: tile8 } } },
      { activations: 'f32' as const, variants: { gemm8: { [q4]: tile8 } } },
    ])
      expect(parseTuneRecord(serializeTuneChoice(k, bad), k, ctx, SHAPES, { ...FAST })).toBeUndefined();
  });
});
