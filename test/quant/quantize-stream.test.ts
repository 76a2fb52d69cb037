import { afterAll, describe, expect, it } from 'vitest';
import { QuantizeError } from '../../src/errors.ts';
import { NodeQuantizePool } from '../../src/quant/node-quantize-pool.ts';
import { runQuantizeJob, type QuantizeJob, type QuantizeResult } from '../../src/quant/quantize-job.ts';
import { inlineRunner, quantizeRowChunks, type QuantizeRunner } from '../../src/quant/quantize-stream.ts';
import { MAX_ROW_VALUES, tensorRowChunks } from '../../src/quant/rows.ts';
import { dequantizeTensor, quantizeTensor } from '../../src/quant/table.ts';
import { GGMLType, quantLayout } from '../../src/quant/types.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { rng } from './helpers.ts';

function values(n: number, seed: number, ternary = false): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (ternary ? [-0.25, 0, 0.25][r.int(3)]! : 0.05 * r.gauss()));
}

/** `x` cut into chunks of `rows` rows of `rowLength`. */
function* chunks(x: Float32Array, rowLength: number, rows: number): Generator<Float32Array> {
  for (let i = 0; i < x.length; i += rowLength * rows) yield x.slice(i, i + rowLength * rows);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return new Uint8Array(Buffer.concat(parts));
}

const pool = new NodeQuantizePool(2);
afterAll(() => pool.close());

describe('streaming quantization', () => {
  for (const type of [GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.Q5_0, GGMLType.Q8_0, GGMLType.TQ2_0]) {
    it(`type ${GGMLType[type]}: chunked through the worker pool gives the whole-tensor bytes`, async () => {
      const x = values(256 * 40, type);
      const whole = quantizeTensor(type, x);
      expect(await collect(quantizeRowChunks(chunks(x, 256, 3), type, pool))).toEqual(whole);
      expect(await collect(quantizeRowChunks(chunks(x, 256, 7), type, inlineRunner))).toEqual(whole);
    });
  }

  it('I2_S: codes per chunk, the tensor-wide scale in the trailer, equal to the whole-tensor quantizer', async () => {
    const x = values(128 * 24, 9, true);
    x[5 * 128 + 3] = -0.5; // the largest |x| sits in a middle chunk
    const whole = quantizeTensor(GGMLType.I2_S, x);
    expect(await collect(quantizeRowChunks(chunks(x, 128, 5), GGMLType.I2_S, pool))).toEqual(whole);
  });

  it('keeps at most 2 × parallelism jobs in flight, and yields in order', async () => {
    let running = 0;
    let most = 0;
    const slow: QuantizeRunner = {
      parallelism: 2,
      async run(job: QuantizeJob): Promise<QuantizeResult> {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 5 * (job.values[0]! % 3)));
        running--;
        return runQuantizeJob(job);
      },
    };
    const rows = Array.from({ length: 20 }, (_, i) => new Float32Array(32).fill(i));
    const out = await collect(quantizeRowChunks(rows, GGMLType.Q8_0, slow));
    expect(most).toBeLessThanOrEqual(4);
    expect(out).toEqual(quantizeTensor(GGMLType.Q8_0, Float32Array.from(rows.flatMap((r) => [...r]))));
  });

  it('a failing job rejects the stream with a QuantizeError, and the pool keeps working', async () => {
    const bad = quantizeRowChunks([new Float32Array(100)], GGMLType.Q4_K, pool); // 100 is not a whole Q4_K block
    await expect(collect(bad)).rejects.toBeInstanceOf(QuantizeError);
    const x = values(256, 3);
    const expected = quantizeTensor(GGMLType.Q4_K, x); // before the pool takes (detaches) x's buffer
    expect(await collect(quantizeRowChunks([x], GGMLType.Q4_K, pool))).toEqual(expected);
    expect(x.length).toBe(0);
  });

  it('types without a quantizer are refused', () => {
    expect(() => runQuantizeJob({ type: GGMLType.IQ4_NL, values: new Float32Array(32) })).toThrow(/no quantizer for IQ4_NL|not supported/);
  });
});

describe('tensor rows from a file', () => {
  it('refuses a row longer than MAX_ROW_VALUES before reading anything', async () => {
    const source = {
      size: 2 ** 40,
      name: 'hostile.gguf',
      read: () => Promise.reject(new Error('must not read')),
    };
    const info = quantLayout(GGMLType.F32)!;
    const tensor = {
      name: 'blk.0.ffn_up.weight',
      dims: [MAX_ROW_VALUES * 2, 2],
      typeId: GGMLType.F32,
      typeName: 'F32',
      layout: info,
      offset: 0,
      absoluteOffset: 64,
      nElements: MAX_ROW_VALUES * 4,
      byteSize: MAX_ROW_VALUES * 16,
      infoOffset: 0,
    };
    await expect(tensorRowChunks(source, tensor).next()).rejects.toThrow(/rows of 33554432 values are longer than lowbit quantizes/);
  });

  it('decodes Q8_0 and F16 rows in chunks of whole rows', async () => {
    const x = values(256 * 9, 4);
    for (const type of [GGMLType.Q8_0, GGMLType.F16]) {
      const bytes = quantizeTensor(type, x);
      const tensor = {
        name: 't',
        dims: [256, 9],
        typeId: type,
        typeName: GGMLType[type],
        layout: quantLayout(type)!,
        offset: 0,
        absoluteOffset: 0,
        nElements: x.length,
        byteSize: bytes.length,
        infoOffset: 0,
      };
      const parts: Float32Array[] = [];
      for await (const c of tensorRowChunks(new BufferByteSource(bytes, 't'), tensor, 256 * 4)) parts.push(c);
      expect(parts.map((p) => p.length)).toEqual([1024, 1024, 256]);
      expect(Float32Array.from(parts.flatMap((p) => [...p]))).toEqual(dequantizeTensor(type, bytes, x.length));
    }
  });
});
