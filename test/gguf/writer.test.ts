import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GGUFArray,
  GGUFValueType,
  planGGUF,
  readGGUF,
  readTensorBytes,
  specFromFile,
  writeGGUF,
  writeGGUFToBytes,
  type GGUFValue,
} from '../../src/gguf/index.ts';
import { writeGGUFToFile } from '../../src/gguf/write-file.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { demoModel, haveShared, localModels, sharedPath } from '../helpers/fixtures.ts';
import { smallSpec } from './craft.ts';

const committed = [
  ...readdirSync(localModels)
    .filter((f) => f.endsWith('.gguf'))
    .map((f) => join(localModels, f)),
  demoModel,
];

function sharedFiles(): string[] {
  if (!haveShared()) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.gguf')) out.push(join(dir, e.name));
    }
  };
  walk(sharedPath('models'));
  walk(sharedPath('tokenizer'));
  return out.sort();
}

async function fileSha(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

/** read → write (streamed from the original) → sha256 equal to the original file. */
async function roundTrip(path: string): Promise<void> {
  const src = await FileByteSource.open(path);
  try {
    const file = await readGGUF(src);
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of writeGGUF(specFromFile(file, src, 256 * 1024))) {
      h.update(chunk);
      n += chunk.length;
    }
    expect(n).toBe(src.size);
    expect(h.digest('hex')).toBe(await fileSha(path));
  } finally {
    await src.close();
  }
}

describe('writer round-trips fixtures byte for byte', () => {
  it.each(committed)('%s', roundTrip);
});

describe.skipIf(!haveShared())('writer round-trips the shared fixture set byte for byte', () => {
  it.each(sharedFiles())('%s', roundTrip);
});

describe('writer', () => {
  it('writes every value type and reads each back with its declared type', async () => {
    const entries: { key: string; type: GGUFValueType; value: GGUFValue }[] = [
      { key: 'v.u8', type: GGUFValueType.UINT8, value: 255 },
      { key: 'v.i8', type: GGUFValueType.INT8, value: -128 },
      { key: 'v.u16', type: GGUFValueType.UINT16, value: 65535 },
      { key: 'v.i16', type: GGUFValueType.INT16, value: -32768 },
      { key: 'v.u32', type: GGUFValueType.UINT32, value: 4294967295 },
      { key: 'v.i32', type: GGUFValueType.INT32, value: -2147483648 },
      { key: 'v.f32', type: GGUFValueType.FLOAT32, value: Math.fround(0.1) },
      { key: 'v.bool', type: GGUFValueType.BOOL, value: true },
      { key: 'v.str', type: GGUFValueType.STRING, value: '\uFEFFbom kept, ünïcödé 🙂' },
      { key: 'v.u64', type: GGUFValueType.UINT64, value: 18446744073709551615n },
      { key: 'v.i64', type: GGUFValueType.INT64, value: -9223372036854775808n },
      { key: 'v.f64', type: GGUFValueType.FLOAT64, value: Math.PI },
      { key: 'v.small64', type: GGUFValueType.UINT64, value: 7n },
      { key: 'a.u8', type: GGUFValueType.ARRAY, value: new GGUFArray(GGUFValueType.UINT8, new Uint8Array([1, 2, 3])) },
      { key: 'a.i16', type: GGUFValueType.ARRAY, value: new GGUFArray(GGUFValueType.INT16, new Int16Array([-1, 2])) },
      { key: 'a.u64', type: GGUFValueType.ARRAY, value: new GGUFArray(GGUFValueType.UINT64, new BigUint64Array([1n, 2n ** 63n])) },
      { key: 'a.f64', type: GGUFValueType.ARRAY, value: new GGUFArray(GGUFValueType.FLOAT64, new Float64Array([0.5, -0])) },
      { key: 'a.bool', type: GGUFValueType.ARRAY, value: new GGUFArray(GGUFValueType.BOOL, new Uint8Array([1, 0, 1])) },
      { key: 'a.str', type: GGUFValueType.ARRAY, value: new GGUFArray(GGUFValueType.STRING, ['', 'x', 'ÿ']) },
      { key: 'a.empty', type: GGUFValueType.ARRAY, value: new GGUFArray(GGUFValueType.INT32, new Int32Array(0)) },
      {
        key: 'a.nested',
        type: GGUFValueType.ARRAY,
        value: new GGUFArray(GGUFValueType.ARRAY, [
          new GGUFArray(GGUFValueType.STRING, ['a', 'b']),
          new GGUFArray(GGUFValueType.ARRAY, [new GGUFArray(GGUFValueType.FLOAT32, new Float32Array([1.5]))]),
        ]),
      },
    ];
    const bytes = await writeGGUFToBytes({ metadata: entries });
    const f = await readGGUF(new BufferByteSource(bytes));
    expect([...f.metadata.keys()]).toEqual(entries.map((e) => e.key));
    for (const e of entries) {
      const got = f.metadata.get(e.key)!;
      expect(got.type, e.key).toBe(e.type);
      expect(got.value, e.key).toEqual(e.value);
    }
    expect(f.getBool('v.bool')).toBe(true);
    expect(f.getNumber('v.small64')).toBe(7);
    expect(() => f.getNumber('v.u64')).toThrow(/does not fit a JS number exactly/);
    expect(f.getArray('a.bool')!.at(0)).toBe(true);
    // And writing the parsed file again gives the same bytes.
    expect(Buffer.from(await writeGGUFToBytes(specFromFile(f, new BufferByteSource(bytes))))).toEqual(Buffer.from(bytes));
  });

  it('infers value types for a plain metadata record', async () => {
    const bytes = await writeGGUFToBytes({
      metadata: {
        'general.architecture': 'llama',
        'x.count': 3,
        'x.neg': -3,
        'x.eps': 1e-5,
        'x.flag': false,
        'x.big': 1n,
        'x.list': ['a', 'b'],
        'x.ints': [1, -2],
      },
    });
    const f = await readGGUF(new BufferByteSource(bytes));
    const t = (k: string) => f.metadata.get(k)!.type;
    expect([t('general.architecture'), t('x.count'), t('x.neg'), t('x.eps'), t('x.flag'), t('x.big'), t('x.list'), t('x.ints')]).toEqual([
      GGUFValueType.STRING,
      GGUFValueType.UINT32,
      GGUFValueType.INT32,
      GGUFValueType.FLOAT32,
      GGUFValueType.BOOL,
      GGUFValueType.INT64,
      GGUFValueType.ARRAY,
      GGUFValueType.ARRAY,
    ]);
    expect(f.getArray('x.ints')!.itemType).toBe(GGUFValueType.INT32);
  });

  it('places tensors at aligned offsets with zero padding and reads their data back', async () => {
    const spec = smallSpec();
    const bytes = await writeGGUFToBytes(spec);
    const src = new BufferByteSource(bytes);
    const f = await readGGUF(src);
    expect(f.tensors.map((t) => t.offset)).toEqual([0, 128, 224]); // 128 → 128, 72 → pad to 224
    expect(bytes.length % 32).toBe(0);
    for (const [i, t] of f.tensors.entries()) {
      expect(Buffer.from(await readTensorBytes(src, t))).toEqual(Buffer.from(spec.tensors![i]!.data as Uint8Array));
    }
    expect(bytes.subarray(f.headerSize, f.dataOffset).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(f.dataOffset + 200, f.dataOffset + 224).every((b) => b === 0)).toBe(true);
  });

  it('honours a non-default alignment by recording general.alignment', async () => {
    const bytes = await writeGGUFToBytes({ ...smallSpec(), alignment: 256 });
    const f = await readGGUF(new BufferByteSource(bytes));
    expect(f.alignment).toBe(256);
    expect(f.getNumber('general.alignment')).toBe(256);
    expect(f.dataOffset % 256).toBe(0);
    expect(f.tensors.map((t) => t.offset)).toEqual([0, 256, 512]);
  });

  it('writes version 2 files and no end padding when asked', async () => {
    const bytes = await writeGGUFToBytes({ ...smallSpec(), version: 2, padEnd: false });
    const f = await readGGUF(new BufferByteSource(bytes));
    expect(f.version).toBe(2);
    expect(bytes.length).toBe(f.dataOffset + 224 + 102);
  });

  it('rejects invalid specs with errors naming the key or tensor', async () => {
    const bad = async (spec: Parameters<typeof writeGGUFToBytes>[0]) => writeGGUFToBytes(spec);
    await expect(
      bad({
        metadata: [
          { key: 'k', value: 1 },
          { key: 'k', value: 2 },
        ],
      }),
    ).rejects.toThrow(/duplicate metadata key "k"/);
    await expect(bad({ metadata: [{ key: 'k', type: GGUFValueType.UINT8, value: 256 }] })).rejects.toThrow(/"k": 256 is outside/);
    await expect(bad({ metadata: [{ key: 'k', type: GGUFValueType.STRING, value: 3 }] })).rejects.toThrow(/"k": STRING needs a string/);
    await expect(
      bad({ metadata: [{ key: 'k', type: GGUFValueType.ARRAY, value: new GGUFArray(GGUFValueType.INT32, new Float32Array(1)) }] }),
    ).rejects.toThrow(/items do not match/);
    await expect(bad({ alignment: 24 })).rejects.toThrow(/power of two/);
    const t = { name: 'w', dims: [32], type: GGMLType.Q8_0 };
    await expect(bad({ tensors: [{ ...t, data: new Uint8Array(35) }] })).rejects.toThrow(/tensor "w": data is longer than the 34 bytes/);
    await expect(bad({ tensors: [{ ...t, data: new Uint8Array(10) }] })).rejects.toThrow(/tensor "w": data has only 10 bytes/);
    await expect(bad({ tensors: [{ ...t, dims: [33] }] })).rejects.toThrow(/not a multiple of Q8_0's block size 32/);
    await expect(bad({ tensors: [t, t] })).rejects.toThrow(/duplicate tensor name "w"/);
    await expect(bad({ tensors: [t, { ...t, name: 'v', offset: 0 }] })).rejects.toThrow(/overlaps/);
    await expect(bad({ tensors: [{ ...t, type: 4 }] })).rejects.toThrow(/unknown tensor type id 4/);
  });

  it('streams a 256 MiB model in bounded memory', async () => {
    const rows = 8192;
    const rowBytes = 4096; // F32 rows of 1024 elements
    const tensors = Array.from({ length: 8 }, (_, i) => ({
      name: `blk.${i}.w`,
      dims: [1024, rows],
      type: GGMLType.F32,
      // Each tensor is 32 MiB, produced 1 MiB at a time.
      data: async function* () {
        for (let r = 0; r < rows; r += 256) yield new Uint8Array(256 * rowBytes).fill(i + 1);
      },
    }));
    const plan = planGGUF({ metadata: { 'general.architecture': 'synthetic' }, tensors });
    expect(plan.totalSize).toBeGreaterThan(256 * 1024 * 1024);
    global.gc?.();
    const base = process.memoryUsage();
    let peakExternal = 0;
    let written = 0;
    const h = createHash('sha256');
    let first: Uint8Array | undefined;
    for await (const chunk of writeGGUF(plan)) {
      if (!first) first = chunk.slice();
      h.update(chunk);
      written += chunk.length;
      const m = process.memoryUsage();
      peakExternal = Math.max(peakExternal, m.arrayBuffers - base.arrayBuffers, m.rss - base.rss);
    }
    expect(written).toBe(plan.totalSize);
    // Peak growth bounded by a few chunks plus GC slack, far below the 256 MiB written.
    expect(peakExternal).toBeLessThan(96 * 1024 * 1024);
    // The streamed header parses and places every tensor where the plan says (data read as zeros).
    const header = first!;
    const virtual = {
      name: 'synthetic',
      size: plan.totalSize,
      read: async (o: number, n: number) => {
        const out = new Uint8Array(n);
        if (o < header.length) out.set(header.subarray(o, Math.min(o + n, header.length)));
        return out;
      },
    };
    const f = await readGGUF(virtual);
    expect(f.headerBytesRead).toBeLessThan(1024 * 1024);
    expect(f.tensors.map((t) => t.absoluteOffset)).toEqual(plan.tensors.map((t) => plan.dataOffset + t.offset));
    expect(f.tensors.every((t) => t.byteSize === 32 * 1024 * 1024)).toBe(true);
  }, 60_000);

  it('writeGGUFToFile writes the same bytes as writeGGUFToBytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-gguf-'));
    try {
      const path = join(dir, 'small.gguf');
      const n = await writeGGUFToFile(path, smallSpec());
      const expected = await writeGGUFToBytes(smallSpec());
      expect(n).toBe(expected.length);
      expect(readFileSync(path).equals(Buffer.from(expected))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads back what it writes for arbitrary metadata (property)', async () => {
    const scalar = fc.oneof(
      fc.record({ type: fc.constant(GGUFValueType.UINT8), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ type: fc.constant(GGUFValueType.INT16), value: fc.integer({ min: -32768, max: 32767 }) }),
      fc.record({ type: fc.constant(GGUFValueType.UINT32), value: fc.nat({ max: 0xffffffff }) }),
      fc.record({ type: fc.constant(GGUFValueType.FLOAT32), value: fc.float({ noNaN: true }) }),
      fc.record({ type: fc.constant(GGUFValueType.FLOAT64), value: fc.double({ noNaN: true }) }),
      fc.record({ type: fc.constant(GGUFValueType.BOOL), value: fc.boolean() }),
      fc.record({ type: fc.constant(GGUFValueType.STRING), value: fc.string({ unit: 'grapheme', maxLength: 20 }) }),
      fc.record({ type: fc.constant(GGUFValueType.INT64), value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }),
      fc.record({
        type: fc.constant(GGUFValueType.ARRAY),
        value: fc.array(fc.string({ maxLength: 8 }), { maxLength: 10 }).map((a) => new GGUFArray(GGUFValueType.STRING, a)),
      }),
      fc.record({
        type: fc.constant(GGUFValueType.ARRAY),
        value: fc.array(fc.integer(), { maxLength: 10 }).map((a) => new GGUFArray(GGUFValueType.INT32, Int32Array.from(a))),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), scalar), { selector: (e) => e[0], maxLength: 12 }),
        async (kvs) => {
          const metadata = kvs.map(([key, v]) => ({ key, type: v.type, value: v.value as GGUFValue }));
          const bytes = await writeGGUFToBytes({ metadata });
          const f = await readGGUF(new BufferByteSource(bytes));
          expect([...f.metadata.values()].map(({ key, type, value }) => ({ key, type, value }))).toEqual(
            metadata.map((m) => ({ ...m, value: m.type === GGUFValueType.FLOAT32 ? Math.fround(m.value as number) : m.value })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
