// Importance-weighted quantization (lowbit quantize --imatrix): byte-identity with llama-quantize
// --imatrix on the trained 3M model with a committed importance matrix (test/fixtures/imatrix-3M,
// whose PROVENANCE.md gives the commands and the llama.cpp commit), and the plumbing that gets each
// row its weights.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { QuantizeError } from '../../src/errors.ts';
import { readGGUF } from '../../src/gguf/reader.ts';
import { writeGGUFToBytes } from '../../src/gguf/writer.ts';
import { GGUFValueType } from '../../src/gguf/values.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { readImatrix, type Imatrix } from '../../src/quant/imatrix.ts';
import { fileTypeByName } from '../../src/quant/mixture.ts';
import { NodeQuantizePool } from '../../src/quant/node-quantize-pool.ts';
import { runQuantizeJob } from '../../src/quant/quantize-job.ts';
import { quantizeModel } from '../../src/quant/quantize-model.ts';
import { inlineRunner, quantizeRowChunks } from '../../src/quant/quantize-stream.ts';
import { getQuantType, quantizeTensor } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { haveShared, repoRoot, sharedPath } from '../helpers/fixtures.ts';
import { ggufHashes, rng, tinyF32Llama, type GGUFHashes } from './helpers.ts';

const pool = new NodeQuantizePool(2);
afterAll(() => pool.close());

const FIXTURE_DIR = `${repoRoot}/test/fixtures/imatrix-3M`;
/** The name the oracles were made with (`--imatrix imatrix-3M.gguf`): llama-quantize records it. */
const IMATRIX_NAME = 'imatrix-3M.gguf';

async function readFixtureImatrix(): Promise<Imatrix> {
  const bytes = new Uint8Array(readFileSync(`${FIXTURE_DIR}/${IMATRIX_NAME}`));
  return readImatrix(new BufferByteSource(bytes, IMATRIX_NAME));
}

describe.runIf(haveShared())('quantize --imatrix is byte-identical to llama-quantize --imatrix', () => {
  const oracles = JSON.parse(readFileSync(`${FIXTURE_DIR}/oracle-hashes.json`, 'utf8')) as Record<string, GGUFHashes>;
  for (const type of ['Q4_K_M', 'Q3_K_M', 'Q2_K', 'Q4_K_S', 'Q5_K_M', 'Q6_K', 'Q4_0']) {
    it(type, async () => {
      const want = oracles[type]!;
      const source = await FileByteSource.open(sharedPath('models/trained-here/tinystories-llama-3M-F32.gguf'));
      try {
        const model = quantizeModel(await readGGUF(source), source, {
          fileType: fileTypeByName(type),
          runner: pool,
          imatrix: { matrix: await readFixtureImatrix(), fileName: IMATRIX_NAME },
        });
        const got = await ggufHashes(await writeGGUFToBytes(model.spec));
        const firstDiffering = Object.keys(want.tensors).find((name) => got.tensors[name] !== want.tensors[name]);
        expect(firstDiffering, 'first tensor whose bytes differ from llama-quantize --imatrix').toBeUndefined();
        expect(got.file, 'whole file (metadata included)').toBe(want.file);
      } finally {
        await source.close();
      }
    });
  }
});

describe('importance-weighted quantizers', () => {
  const r = rng(7);
  const rowLength = 512;
  const x = Float32Array.from({ length: rowLength * 6 }, () => 0.05 * r.gauss());
  const weightsFor = (n: number) => Float32Array.from({ length: n }, () => 10 * r.next() ** 4 + 1e-3);
  const weighted = [
    GGMLType.Q2_K,
    GGMLType.Q3_K,
    GGMLType.Q4_K,
    GGMLType.Q5_K,
    GGMLType.Q6_K,
    GGMLType.Q4_0,
    GGMLType.Q4_1,
    GGMLType.Q5_0,
    GGMLType.Q5_1,
  ];

  it('exist exactly for the types whose llama.cpp quantizer reads quant_weights', () => {
    for (const t of weighted) expect(getQuantType(t).quantizeWeighted, GGMLType[t]).toBeDefined();
    for (const t of [GGMLType.Q8_0, GGMLType.TQ1_0, GGMLType.TQ2_0, GGMLType.F16]) expect(getQuantType(t).quantizeWeighted).toBeUndefined();
  });

  for (const t of weighted) {
    it(`${GGMLType[t]}: the weights steer the rounding (lower weighted error than without them)`, () => {
      const entry = getQuantType(t);
      const w = weightsFor(rowLength);
      const err = (bytes: Uint8Array) => {
        const y = entry.dequantize!(bytes, x.length);
        let e = 0;
        for (let i = 0; i < x.length; i++) e += w[i % rowLength]! * (x[i]! - y[i]!) ** 2;
        return e;
      };
      const withWeights = entry.quantizeWeighted!(x, w);
      expect(withWeights).not.toEqual(entry.quantize!(x));
      expect(err(withWeights)).toBeLessThan(err(entry.quantize!(x)));
    });
  }

  it('refuse weights whose length is not a row length dividing the input', () => {
    const q4k = getQuantType(GGMLType.Q4_K).quantizeWeighted!;
    expect(() => q4k(x, new Float32Array(100))).toThrow(/importance weights for rows of 100 values do not fit 3072 values/);
    expect(() => q4k(x, new Float32Array(2048))).toThrow(/do not fit/);
  });

  it('a job spanning two experts gives each expert its own weights', () => {
    const w = weightsFor(rowLength * 2);
    const perExpert = (e: number) =>
      getQuantType(GGMLType.Q4_K).quantizeWeighted!(
        x.subarray(e * rowLength * 3, (e + 1) * rowLength * 3),
        w.subarray(e * rowLength, (e + 1) * rowLength),
      );
    const expected = new Uint8Array([...perExpert(0), ...perExpert(1)]);
    // rows 2..4 (crossing from expert 0 into expert 1) as one job
    const job = runQuantizeJob({
      type: GGMLType.Q4_K,
      values: x.slice(2 * rowLength, 5 * rowLength),
      importance: { weights: w, rowLength, rowsPerMatrix: 3, firstRow: 2 },
    });
    const rowBytes = getQuantType(GGMLType.Q4_K).rowBytes(rowLength);
    expect(job.bytes).toEqual(expected.subarray(2 * rowBytes, 5 * rowBytes));
    expect(() =>
      runQuantizeJob({ type: GGMLType.Q4_K, values: x, importance: { weights: w, rowLength, rowsPerMatrix: 2, firstRow: 0 } }),
    ).toThrow(QuantizeError);
  });

  it('chunked through the worker pool, every chunk gets the weights of its rows', async () => {
    const w = weightsFor(rowLength);
    const whole = getQuantType(GGMLType.Q3_K).quantizeWeighted!(x, w);
    const chunks = [x.slice(0, rowLength), x.slice(rowLength, 4 * rowLength), x.slice(4 * rowLength)];
    for (const runner of [pool, inlineRunner]) {
      const parts: Uint8Array[] = [];
      for await (const p of quantizeRowChunks(
        chunks.map((c) => c.slice()),
        GGMLType.Q3_K,
        runner,
        undefined,
        { weights: w, rowLength, rowsPerMatrix: 6 },
      ))
        parts.push(p);
      expect(new Uint8Array(Buffer.concat(parts))).toEqual(whole);
    }
    // Without weights the same stream gives the reference quantizer's bytes.
    expect(whole).not.toEqual(quantizeTensor(GGMLType.Q3_K, x));
  });
});

/** A one-layer llama-shaped GGUF in memory: token_embd, blk.0.attn_q and blk.0.ffn_up, 256 columns each. */
const tinyModel = () =>
  tinyF32Llama(
    3,
    [
      ['token_embd.weight', 4],
      ['blk.0.attn_q.weight', 4],
      ['blk.0.ffn_up.weight', 4],
    ],
    'tiny.gguf',
  );

const entry = (cols: number, value = 2) => ({ sum2: new Float32Array(cols).fill(value * 10), counts: [10] });
const imatrixOf = (entries: [string, ReturnType<typeof entry>][]): Imatrix => ({
  entries: new Map(entries),
  datasets: ['t.txt'],
  chunkCount: 1,
  chunkSize: 10,
});

describe('quantizeModel with an importance matrix', () => {
  it('refuses an entry whose size does not match its tensor, naming both sizes (token_embd excepted)', async () => {
    const { file, source } = await tinyModel();
    const run = (m: Imatrix) =>
      quantizeModel(file, source, { fileType: fileTypeByName('Q4_K_S'), runner: inlineRunner, imatrix: { matrix: m, fileName: 'm' } });
    expect(() => run(imatrixOf([['blk.0.attn_q.weight', entry(128)]]))).toThrow(
      'importance matrix has 128 weights for tensor "blk.0.attn_q.weight", which needs 256 (256 columns × 1)',
    );
    expect(() => run(imatrixOf([['blk.0.attn_q.weight', entry(128)]]))).toThrow(QuantizeError);
    // llama-quantize quantizes token_embd without weights when its entry does not fit.
    expect(() => run(imatrixOf([['token_embd.weight', entry(128)]]))).not.toThrow();
  });

  it('refuses non-finite weights', async () => {
    const { file, source } = await tinyModel();
    const bad = entry(256);
    bad.sum2[3] = Infinity;
    expect(() =>
      quantizeModel(file, source, {
        fileType: fileTypeByName('Q4_K_S'),
        runner: inlineRunner,
        imatrix: { matrix: imatrixOf([['blk.0.ffn_up.weight', bad]]), fileName: 'm' },
      }),
    ).toThrow('importance matrix: "blk.0.ffn_up.weight" has a non-finite weight (Infinity)');
  });

  it('weighs only the tensors it has entries for, and records the matrix in the metadata', async () => {
    const { file, source } = await tinyModel();
    const plain = quantizeModel(file, source, { fileType: fileTypeByName('Q4_K_S'), runner: inlineRunner });
    const imatrix = { matrix: imatrixOf([['blk.0.ffn_up.weight', entry(256)]]), fileName: 'dir/m.gguf' };
    const weighted = quantizeModel(file, source, { fileType: fileTypeByName('Q4_K_S'), runner: inlineRunner, imatrix });
    const a = await readGGUF(new BufferByteSource(await writeGGUFToBytes(plain.spec)));
    const bBytes = await writeGGUFToBytes(weighted.spec);
    const b = await readGGUF(new BufferByteSource(bBytes));
    const aBytes = await writeGGUFToBytes(plain.spec);
    const raw = (bytes: Uint8Array, f: typeof a, name: string) => {
      const t = f.tensor(name)!;
      return bytes.subarray(t.absoluteOffset, t.absoluteOffset + t.byteSize);
    };
    expect(raw(bBytes, b, 'blk.0.attn_q.weight')).toEqual(raw(aBytes, a, 'blk.0.attn_q.weight'));
    expect(raw(bBytes, b, 'blk.0.ffn_up.weight')).not.toEqual(raw(aBytes, a, 'blk.0.ffn_up.weight'));
    expect([...b.metadata.keys()].slice(-6)).toEqual([
      'general.quantization_version',
      'general.file_type',
      'quantize.imatrix.file',
      'quantize.imatrix.dataset',
      'quantize.imatrix.entries_count',
      'quantize.imatrix.chunks_count',
    ]);
    expect(b.get('quantize.imatrix.file')).toBe('dir/m.gguf');
    expect(b.get('quantize.imatrix.dataset')).toBe('t.txt');
    expect(b.get('quantize.imatrix.entries_count')).toBe(1);
    expect(b.get('quantize.imatrix.chunks_count')).toBe(1);
  });

  it("gives the first eighth of a Q4_0 model's ffn_down Q4_1, as llama-quantize does only with an imatrix", async () => {
    const nLayer = 16;
    const bytes = await writeGGUFToBytes({
      metadata: [
        { key: 'general.architecture', type: GGUFValueType.STRING, value: 'llama' },
        { key: 'llama.block_count', type: GGUFValueType.UINT32, value: nLayer },
        { key: 'llama.attention.head_count', type: GGUFValueType.UINT32, value: 8 },
      ],
      tensors: Array.from({ length: nLayer }, (_, i) => ({
        name: `blk.${i}.ffn_down.weight`,
        dims: [256, 2],
        type: GGMLType.F32,
        data: new Uint8Array(256 * 2 * 4),
      })),
    });
    const source = new BufferByteSource(bytes, 'deep.gguf');
    const file = await readGGUF(source);
    const types = (imatrix?: Imatrix) =>
      quantizeModel(file, source, {
        fileType: fileTypeByName('Q4_0'),
        runner: inlineRunner,
        ...(imatrix ? { imatrix: { matrix: imatrix, fileName: 'm' } } : {}),
      }).plan.map((p) => GGMLType[p.type]);
    expect(types()).toEqual(Array(nLayer).fill('Q4_0'));
    expect(types(imatrixOf([['blk.0.ffn_down.weight', entry(256)]]))).toEqual(['Q4_1', 'Q4_1', ...Array(nLayer - 2).fill('Q4_0')]);
  });
});
