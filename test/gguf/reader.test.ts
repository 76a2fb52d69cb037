import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { GGUFFormatError, ModelFormatError } from '../../src/errors.ts';
import { GGUFArray, GGUFValueType, readGGUF, readTensorBytes, readTensorChunks, type GGUFFile } from '../../src/gguf/index.ts';
import { BufferByteSource, type ByteSource } from '../../src/io/byte-source.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { GGMLType, quantLayout, tensorByteSize } from '../../src/quant/types.ts';
import { demoModel, haveShared, localModel, localModels, sharedPath } from '../helpers/fixtures.ts';
import { smallFile } from './craft.ts';

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

async function withFile<T>(path: string, fn: (src: FileByteSource, file: GGUFFile) => Promise<T>): Promise<T> {
  const src = await FileByteSource.open(path);
  try {
    return await fn(src, await readGGUF(src));
  } finally {
    await src.close();
  }
}

/** node-llama-cpp nests metadata by dotted key; walk to a key's value. */
function oracleValue(meta: unknown, key: string): unknown {
  let v: unknown = meta;
  for (const part of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
  return v;
}

function comparable(v: unknown): unknown {
  if (v instanceof GGUFArray) return v.toArray().map(comparable);
  if (Array.isArray(v)) return v.map(comparable);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  return v;
}

/** Our parse agrees with node-llama-cpp's independent parser on every key and tensor. */
async function checkAgainstOracle(path: string): Promise<number> {
  const oracle = await readGgufFileInfo(path, { logWarnings: false });
  return withFile(path, async (_src, file) => {
    expect(file.version).toBe(oracle.version);
    expect(file.tensors.length).toBe(Number(oracle.tensorCount));
    let compared = 0;
    for (const e of file.metadata.values()) {
      const theirs = oracleValue(oracle.metadata, e.key);
      if (theirs === undefined || (typeof theirs === 'object' && theirs !== null && !Array.isArray(theirs))) continue; // key shadowed by a nested object
      expect(comparable(e.value), e.key).toEqual(comparable(theirs));
      compared++;
    }
    const theirTensors = oracle.fullTensorInfo ?? oracle.tensorInfo ?? [];
    file.tensors.forEach((t, i) => {
      const o = theirTensors[i]!;
      expect(t.name).toBe(o.name);
      expect(t.dims.map(String)).toEqual(o.dimensions.map(String));
      expect(t.typeId).toBe(o.ggmlType);
      expect(String(t.offset)).toBe(String(o.offset));
      expect(String(t.absoluteOffset)).toBe(String(o.fileOffset));
    });
    return compared;
  });
}

describe('readGGUF on committed fixtures', () => {
  it.each(committed)('%s agrees with node-llama-cpp and reads only the header', async (path) => {
    const compared = await checkAgainstOracle(path);
    expect(compared).toBeGreaterThan(10);
    await withFile(path, async (src, file) => {
      expect(file.headerBytesRead).toBeLessThan(file.fileSize); // never the whole file
      expect(file.headerBytesRead).toBeGreaterThanOrEqual(file.headerSize);
      expect(file.dataOffset % file.alignment).toBe(0);
      expect(file.truncated).toBe(false);
      for (const t of file.tensors) {
        expect(t.absoluteOffset).toBe(file.dataOffset + t.offset);
        expect(t.nElements).toBe(t.dims.reduce((a, b) => a * b, 1));
        expect(t.byteSize).toBe(tensorByteSize(quantLayout(t.typeId)!, t.nElements));
        expect(t.absoluteOffset + t.byteSize).toBeLessThanOrEqual(src.size);
      }
    });
  });

  it('exposes typed getters over stories260K', async () => {
    await withFile(localModel('stories260K.gguf'), async (_src, f) => {
      expect(f.architecture).toBe('llama');
      expect(f.getNumber('llama.embedding_length')).toBe(64);
      expect(f.getNumber(f.archKey('block_count'))).toBe(5);
      expect(f.getNumber('llama.attention.head_count_kv')).toBe(4);
      expect(f.getString('tokenizer.ggml.model')).toBe('llama');
      expect(f.getStringArray('tokenizer.ggml.tokens')?.length).toBe(512);
      const scores = f.getArray('tokenizer.ggml.scores')!;
      expect(scores.itemType).toBe(GGUFValueType.FLOAT32);
      expect(scores.items).toBeInstanceOf(Float32Array);
      expect(f.getArray('tokenizer.ggml.token_type')!.items).toBeInstanceOf(Int32Array);
      expect(f.get('no.such.key')).toBeUndefined();
      expect(() => f.getString('llama.embedding_length')).toThrow(/"llama.embedding_length" at byte \d+ is UINT32, expected a string/);
      expect(() => f.getNumber('general.architecture')).toThrow(GGUFFormatError);
      expect(() => f.requireNumber('llama.nope')).toThrow(ModelFormatError);
      expect(f.tensor('output.weight')?.typeName).toBe('F32');
      expect(f.tensorBytes).toBe(f.tensors.reduce((s, t) => s + t.byteSize, 0));
    });
  });

  it('sizes I2_S tensors as n/4 + 32 and TQ types by block', async () => {
    await withFile(localModel('tinystories-bitnet-3M-I2_S.gguf'), async (_src, f) => {
      const i2s = f.tensors.filter((t) => t.typeId === GGMLType.I2_S);
      expect(i2s.length).toBeGreaterThan(0);
      for (const t of i2s) expect(t.byteSize).toBe(t.nElements / 4 + 32);
    });
    await withFile(localModel('tinystories-bitnet-3M-TQ2_0.gguf'), async (_src, f) => {
      const tq = f.tensors.filter((t) => t.typeName === 'TQ2_0');
      expect(tq.length).toBeGreaterThan(0);
      for (const t of tq) expect(t.byteSize).toBe((t.nElements / 256) * 66);
    });
  });

  it('readTensorBytes and readTensorChunks return the same bytes', async () => {
    await withFile(localModel('stories260K-Q4_0.gguf'), async (src, f) => {
      const t = f.tensors.find((x) => x.typeName === 'Q4_0')!;
      const whole = await readTensorBytes(src, t);
      expect(whole.length).toBe(t.byteSize);
      const parts: Uint8Array[] = [];
      for await (const c of readTensorChunks(src, t, 1000)) parts.push(c);
      expect(parts.length).toBe(Math.ceil(t.byteSize / 1000));
      expect(Buffer.concat(parts).equals(Buffer.from(whole))).toBe(true);
    });
  });

  it('requests header bytes in growing chunks, not per field', async () => {
    const bytes = await smallFile();
    const reads: number[] = [];
    const inner = new BufferByteSource(bytes, 'small.gguf');
    const counting: ByteSource = { name: inner.name, size: inner.size, read: (o, n) => (reads.push(n), inner.read(o, n)) };
    const f = await readGGUF(counting, { initialReadBytes: 64 });
    expect(f.tensors.length).toBe(3);
    // 64, 128, 256, … bytes: a handful of reads for a header of a few hundred bytes.
    expect(reads.length).toBeLessThanOrEqual(Math.ceil(Math.log2(f.headerSize / 64)) + 2);
    expect(reads.reduce((a, b) => a + b, 0)).toBe(f.headerBytesRead);
  });
});

describe.skipIf(!haveShared())('readGGUF on the shared fixture set', () => {
  it.each(sharedFiles())('%s agrees with node-llama-cpp', async (path) => {
    expect(await checkAgainstOracle(path)).toBeGreaterThan(5);
  });
});
