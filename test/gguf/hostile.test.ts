/** Each malformed-input case yields a typed error whose message names the field and byte offset. */
import { describe, expect, it } from 'vitest';
import { GGUFFormatError, UnsupportedTensorTypeError } from '../../src/errors.ts';
import { GGUFArray, GGUFValueType, readGGUF, readTensorBytes, writeGGUFToBytes, type GGUFFile } from '../../src/gguf/index.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { fieldAt, getU64, RawGGUF, setU32, setU64, smallFile, smallSpec, walkFields } from './craft.ts';

const parse = (bytes: Uint8Array, opts = {}) => readGGUF(new BufferByteSource(bytes, 'bad.gguf'), opts);

async function formatError(bytes: Uint8Array, opts = {}): Promise<GGUFFormatError> {
  const e = await parse(bytes, opts).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(GGUFFormatError);
  const fe = e as GGUFFormatError;
  expect(fe.message).toMatch(/^bad\.gguf: /);
  expect(fe.message).toMatch(/at byte \d+/);
  expect(typeof fe.offset).toBe('number');
  expect(fe.field).toBeTruthy();
  return fe;
}

const good = await smallFile();
const copy = () => good.slice();
const goodFile: GGUFFile = await parse(good);

describe('hostile GGUF headers', () => {
  it('the base file is valid', () => {
    expect(goodFile.tensors.map((t) => t.name)).toEqual(['norm.weight', 'q4.weight', 'q8.weight']);
    expect(walkFields(good).headerEnd).toBe(goodFile.headerSize);
  });

  it('truncation at every cut point is a GGUFFormatError', async () => {
    const dataEnd = goodFile.dataOffset + 224 + 102;
    for (let cut = 0; cut < good.length; cut++) {
      if (cut >= dataEnd) {
        // Only the end padding is missing: no tensor data is lost.
        expect((await parse(good.subarray(0, cut))).tensors.length).toBe(3);
        continue;
      }
      const e = await formatError(good.subarray(0, cut));
      if (cut < goodFile.headerSize) {
        // Either the cut field itself, or a count/length that no longer fits in what is left.
        expect(e.message).toMatch(
          /truncated: .+ at byte \d+ needs \d+ bytes but the file ends at byte \d+|at byte \d+: .*cannot fit in the \d+ bytes left/,
        );
      } else expect(e.message).toMatch(/runs past the end of the file/);
      if (cut >= goodFile.headerSize && cut < dataEnd) {
        // Header intact, data cut: allowed on request, flagged as truncated.
        const f = await parse(good.subarray(0, cut), { allowTruncatedData: true });
        expect(f.truncated).toBe(true);
        expect(f.missingTensors.length).toBeGreaterThan(0);
      }
    }
  });

  it('bad magic, empty file and text files', async () => {
    const b = copy();
    b[0] = 0x58;
    expect((await formatError(b)).message).toMatch(/magic at byte 0: bad magic "XGUF"/);
    expect((await formatError(new Uint8Array(0))).message).toMatch(/truncated: magic at byte 0/);
    expect((await formatError(new TextEncoder().encode('<!DOCTYPE html><html>not a model</html>'))).message).toMatch(/bad magic "<!DO"/);
  });

  it('versions other than 2 and 3', async () => {
    expect((await formatError(setU32(copy(), 4, 1))).message).toMatch(/version at byte 4: unsupported version 1/);
    expect((await formatError(setU32(copy(), 4, 4))).message).toMatch(/version at byte 4: unsupported version 4/);
    expect((await formatError(setU32(copy(), 4, 0x03000000))).message).toMatch(/big-endian/);
    expect((await parse(setU32(copy(), 4, 2))).version).toBe(2);
  });

  it('absurd tensor and metadata counts are bounded by the bytes left', async () => {
    for (const n of [2n ** 60n, 2n ** 64n - 1n, BigInt(good.length)]) {
      const e = await formatError(setU64(copy(), 8, n));
      expect(e.field).toBe('tensor_count');
      expect(e.offset).toBe(8);
      const k = await formatError(setU64(copy(), 16, n));
      expect(k.field).toMatch(/kv_count|tensor_count/);
    }
    expect((await formatError(setU64(copy(), 16, 2n ** 40n))).message).toMatch(
      /kv_count at byte 16: 1099511627776 entries of at least 13 bytes each cannot fit/,
    );
  });

  it('string lengths beyond the file', async () => {
    const keyLen = fieldAt(good, 'key_len', 0);
    const e = await formatError(setU64(copy(), keyLen, 2n ** 40n));
    expect(e.message).toMatch(new RegExp(`metadata\\[0\\]\\.key length at byte ${keyLen}: 1099511627776 bytes cannot fit`));
    // One byte more than is left: still caught before allocating.
    const left = good.length - keyLen - 8;
    expect((await formatError(setU64(copy(), keyLen, left + 1))).offset).toBe(keyLen);
    const strLen = fieldAt(good, 'str_len', 0); // general.architecture's value
    const s = await formatError(setU64(copy(), strLen, 2n ** 63n));
    expect(s.message).toMatch(new RegExp(`metadata\\["general.architecture"\\] length at byte ${strLen}`));
    const nameLen = fieldAt(good, 'name_len', 1);
    expect((await formatError(setU64(copy(), nameLen, 2n ** 50n))).message).toMatch(/tensor_infos\[1\]\.name length at byte \d+/);
  });

  it('array counts beyond the file', async () => {
    const tokens = fieldAt(good, 'array_count', 0);
    const e = await formatError(setU64(copy(), tokens, 2n ** 62n));
    expect(e.message).toMatch(
      new RegExp(`metadata\\["tokenizer.ggml.tokens"\\] count at byte ${tokens}: \\d+ entries of at least 8 bytes each cannot fit`),
    );
    const scores = fieldAt(good, 'array_count', 1);
    const left = good.length - scores - 8;
    const f = await formatError(setU64(copy(), scores, Math.floor(left / 4) + 1));
    expect(f.offset).toBe(scores);
    expect(f.message).toMatch(/scores"\] count/);
  });

  it('dimensions that are zero, negative, overflowing or absurd', async () => {
    const dim = fieldAt(good, 'dim', 1); // q4.weight ne[0]
    expect((await formatError(setU64(copy(), dim, 0))).message).toMatch(
      new RegExp(`tensor "q4.weight" ne\\[0\\] at byte ${dim}: dimension 0 is not a positive size`),
    );
    expect((await formatError(setU64(copy(), dim, 2n ** 64n - 32n))).message).toMatch(/dimension -32 is not a positive size/);
    const ne1 = fieldAt(good, 'dim', 2); // q4.weight ne[1]
    const b = setU64(setU64(copy(), dim, 2n ** 32n), ne1, 2n ** 32n);
    expect((await formatError(b)).message).toMatch(/tensor "q4.weight" ne\[1\] at byte \d+: element count overflows 2\^53/);
    expect((await formatError(setU64(copy(), ne1, 2n ** 40n))).message).toMatch(
      /tensor "q4.weight" offset at byte \d+: data .* runs past the end/,
    );
    const nDims = fieldAt(good, 'n_dims', 0);
    expect((await formatError(setU32(copy(), nDims, 5))).message).toMatch(
      new RegExp(`tensor "norm.weight" n_dims at byte ${nDims}: n_dims is 5`),
    );
  });

  it('rows that are not a whole number of blocks', async () => {
    const dim = fieldAt(good, 'dim', 1);
    expect((await formatError(setU64(copy(), dim, 48))).message).toMatch(
      /tensor "q4.weight" ne\[0\] at byte \d+: row length ne\[0\] = 48 is not a multiple of Q4_0's block size 32/,
    );
  });

  it('tensor offsets past the end, overlapping or misaligned', async () => {
    const off = fieldAt(good, 'tensor_offset', 2); // q8.weight
    expect((await formatError(setU64(copy(), off, 1 << 20))).message).toMatch(
      /tensor "q8.weight" offset at byte \d+: data \[\d+, \d+\) runs past the end of the file/,
    );
    expect((await formatError(setU64(copy(), off, 2n ** 60n))).message).toMatch(
      /tensor "q8.weight" offset at byte \d+: data offset \d+ is beyond any file/,
    );
    expect((await formatError(setU64(copy(), off, 128))).message).toMatch(
      /tensor "q8.weight" offset at byte \d+: data \[128, \+102\) overlaps tensor "q4.weight"/,
    );
    expect((await formatError(setU64(copy(), off, 225))).message).toMatch(/data offset 225 is not a multiple of the alignment 32/);
    expect(getU64(good, off)).toBe(224n);
  });

  it('duplicate tensor names and duplicate keys', async () => {
    const b = copy();
    const at = fieldAt(good, 'name_len', 2) + 8; // "q8.weight" → "q4.weight"
    b[at + 1] = '4'.charCodeAt(0);
    expect((await formatError(b)).message).toMatch(/tensor "q4.weight" at byte \d+: duplicate tensor name/);
    const dup = await writeGGUFToBytes({
      metadata: [
        { key: 'x.aa', value: 1 },
        { key: 'x.ab', value: 2 },
      ],
    });
    dup[fieldAt(dup, 'key_len', 1) + 8 + 3] = 'a'.charCodeAt(0);
    expect((await formatError(dup)).message).toMatch(/metadata\["x.aa"\] at byte \d+: duplicate metadata key "x.aa"/);
  });

  it('array nesting is limited', async () => {
    const nest = (depth: number): GGUFArray =>
      depth === 1 ? new GGUFArray(GGUFValueType.UINT8, new Uint8Array([1])) : new GGUFArray(GGUFValueType.ARRAY, [nest(depth - 1)]);
    const ok = await parse(await writeGGUFToBytes({ metadata: [{ key: 'n', type: GGUFValueType.ARRAY, value: nest(8) }] }));
    expect((ok.get('n') as GGUFArray).toArray()).toEqual([[[[[[[[1]]]]]]]]);
    const e = await formatError(await writeGGUFToBytes({ metadata: [{ key: 'n', type: GGUFValueType.ARRAY, value: nest(9) }] }));
    expect(e.message).toMatch(/metadata\["n"\](\[0\])+ at byte \d+: arrays nested deeper than 8 levels/);
  });

  it('invalid UTF-8 in keys and strings names the key and offset', async () => {
    const b = copy();
    const nameAt = fieldAt(good, 'str_len', 1) + 8; // value of general.name
    b[nameAt] = 0xff;
    expect((await formatError(b)).message).toMatch(new RegExp(`metadata\\["general.name"\\] at byte ${nameAt}: invalid UTF-8`));
    const k = copy();
    const keyAt = fieldAt(good, 'key_len', 1) + 8;
    k[keyAt + 2] = 0xc3; // a lead byte followed by ASCII
    expect((await formatError(k)).message).toMatch(new RegExp(`metadata\\[1\\]\\.key at byte ${keyAt}: invalid UTF-8`));
    const t = copy();
    const tokAt = walkFields(good).fields.filter((f) => f.kind === 'str_len')[4]!.offset + 8; // tokens[2] "</s>"
    t[tokAt] = 0x80;
    expect((await formatError(t)).message).toMatch(/metadata\["tokenizer.ggml.tokens"\]\[2\] at byte \d+: invalid UTF-8/);
  });

  it('bool bytes other than 0 and 1, unknown value and item types', async () => {
    const bAt =
      walkFields(good)
        .fields.filter((f) => f.kind === 'value_type')
        .at(-1)!.offset + 4; // add_bos_token
    const b = copy();
    b[bAt] = 2;
    expect((await formatError(b)).message).toMatch(
      new RegExp(`metadata\\["tokenizer.ggml.add_bos_token"\\] at byte ${bAt}: bool byte is 2`),
    );
    const vt = fieldAt(good, 'value_type', 2);
    expect((await formatError(setU32(copy(), vt, 13))).message).toMatch(
      new RegExp(`metadata\\["llama.context_length"\\] type at byte ${vt}: unknown value type 13`),
    );
    const it = fieldAt(good, 'array_item_type', 0);
    expect((await formatError(setU32(copy(), it, 99))).message).toMatch(/tokens"\] item type at byte \d+: unknown value type 99/);
  });

  it('general.alignment must be a non-zero power of two integer', async () => {
    for (const [type, value] of [
      [GGUFValueType.UINT32, 0],
      [GGUFValueType.UINT32, 48],
      [GGUFValueType.UINT64, 2n ** 31n],
      [GGUFValueType.STRING, '32'],
      [GGUFValueType.FLOAT32, 32],
    ] as const) {
      // The writer refuses these, so write the key one letter off and patch it.
      const bytes = await writeGGUFToBytes({ metadata: [{ key: 'general.alignmenX', type, value }] });
      bytes[fieldAt(bytes, 'key_len', 0) + 8 + 16] = 't'.charCodeAt(0);
      const e = await formatError(bytes);
      expect(e.field).toBe('metadata["general.alignment"]');
      expect(e.message).toMatch(/must be an integer|must be a power of two/);
    }
    const f = await parse(await writeGGUFToBytes({ ...smallSpec(), alignment: 64 }));
    expect(f.alignment).toBe(64);
  });

  it('unknown tensor type ids are UnsupportedTensorTypeError; known unsupported ones parse', async () => {
    const tt = fieldAt(good, 'tensor_type', 1);
    const e = await parse(setU32(copy(), tt, 31)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnsupportedTensorTypeError);
    expect(e).toMatchObject({
      typeId: 31,
      tensorName: 'q4.weight',
      message: expect.stringMatching(/tensor "q4.weight" has unknown tensor type id 31 \(at byte \d+\)/),
    });
    const iq = await parse(
      await writeGGUFToBytes({
        tensors: [
          { name: 'iq', dims: [256, 2], type: GGMLType.IQ2_XXS },
          { name: 'mx', dims: [64], type: GGMLType.MXFP4 },
        ],
      }),
    );
    expect(iq.tensors.map((t) => [t.typeName, t.byteSize])).toEqual([
      ['IQ2_XXS', 132],
      ['MXFP4', 34],
    ]);
  });

  it('the header size limit bounds what the reader will buffer', async () => {
    expect((await formatError(good, { maxHeaderBytes: 100 })).message).toMatch(/beyond the 100-byte header limit/);
  });

  it('a megabyte-long key or tensor name is clipped in error messages', async () => {
    const long = 'k'.repeat(1_000_000);
    const dup = new RawGGUF(0, 2).str(long).u32(GGUFValueType.UINT8).u8(1).str(long).u32(GGUFValueType.UINT8).u8(2).bytes();
    const e = await formatError(dup);
    expect(e.message).toMatch(/duplicate metadata key "k+\.\.\." \(1000000 characters\)$/);
    expect(e.message.length).toBeLessThan(400);
    expect(e.field!.length).toBeLessThan(200);
    const typed = new RawGGUF(1, 0).str(long).u32(1).u64(32).u32(99).u64(0).zeros(160).bytes();
    const t = await parse(typed).catch((err: unknown) => err);
    expect(t).toBeInstanceOf(UnsupportedTensorTypeError);
    expect((t as Error).message).toMatch(/tensor "k+\.\.\." \(1000000 characters\) has unknown tensor type id 99/);
    expect((t as Error).message.length).toBeLessThan(400);
  });

  it('readTensorBytes refuses a tensor past the end of its source', async () => {
    const f = await parse(good.subarray(0, goodFile.dataOffset + 300), { allowTruncatedData: true });
    expect(f.missingTensors).toEqual(['q8.weight']);
    await expect(
      readTensorBytes(new BufferByteSource(good.subarray(0, goodFile.dataOffset + 300), 'cut.gguf'), f.tensor('q8.weight')!),
    ).rejects.toThrow(/cut.gguf: tensor "q8.weight" data \[\d+, \d+\) runs past the end of the file/);
  });
});
