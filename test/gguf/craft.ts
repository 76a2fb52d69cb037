/**
 * Helpers for building and corrupting GGUF bytes in tests. `walkFields` is an independent, minimal
 * walk of a well-formed file (not the reader under test) that records where each length, count and
 * type field lives, so tests can corrupt exactly one field.
 */
import { GGMLType } from '../../src/quant/types.ts';
import { GGUFArray, GGUFValueType, writeGGUFToBytes, type GGUFWriteSpec } from '../../src/gguf/index.ts';

export type FieldKind =
  | 'tensor_count'
  | 'kv_count'
  | 'key_len'
  | 'value_type'
  | 'str_len'
  | 'array_item_type'
  | 'array_count'
  | 'name_len'
  | 'n_dims'
  | 'dim'
  | 'tensor_type'
  | 'tensor_offset';

export interface Field {
  kind: FieldKind;
  offset: number;
  width: 4 | 8;
}

const WIDTH: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export function walkFields(bytes: Uint8Array): { fields: Field[]; headerEnd: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: Field[] = [];
  let p = 8;
  const u32 = (kind: FieldKind) => {
    fields.push({ kind, offset: p, width: 4 });
    const v = dv.getUint32(p, true);
    p += 4;
    return v;
  };
  const u64 = (kind: FieldKind) => {
    fields.push({ kind, offset: p, width: 8 });
    const v = Number(dv.getBigUint64(p, true));
    p += 8;
    return v;
  };
  const str = (kind: FieldKind) => {
    const len = u64(kind); // read first: `p += u64()` would add to the stale p
    p += len;
  };
  const value = (type: number): void => {
    if (type === GGUFValueType.STRING) return str('str_len');
    if (type === GGUFValueType.ARRAY) {
      const item = u32('array_item_type');
      const n = u64('array_count');
      if (WIDTH[item] !== undefined) p += n * WIDTH[item]!;
      else for (let i = 0; i < n; i++) value(item);
      return;
    }
    p += WIDTH[type]!;
  };
  const nt = u64('tensor_count');
  const nk = u64('kv_count');
  for (let i = 0; i < nk; i++) {
    str('key_len');
    value(u32('value_type'));
  }
  for (let i = 0; i < nt; i++) {
    str('name_len');
    const nd = u32('n_dims');
    for (let d = 0; d < nd; d++) u64('dim');
    u32('tensor_type');
    u64('tensor_offset');
  }
  return { fields, headerEnd: p };
}

export function setU32(bytes: Uint8Array, offset: number, v: number): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(offset, v, true);
  return bytes;
}

export function setU64(bytes: Uint8Array, offset: number, v: bigint | number): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(offset, BigInt(v), true);
  return bytes;
}

export function getU64(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true);
}

/** Offset of the n-th field of a kind (0-based). */
export function fieldAt(bytes: Uint8Array, kind: FieldKind, n = 0): number {
  const f = walkFields(bytes).fields.filter((x) => x.kind === kind)[n];
  if (!f) throw new Error(`no field ${kind}[${n}]`);
  return f.offset;
}

/** A small valid model: a few metadata types and three tensors (F32, Q4_0, Q8_0). */
export function smallSpec(): GGUFWriteSpec {
  return {
    metadata: [
      { key: 'general.architecture', value: 'llama' },
      { key: 'general.name', value: 'tiny' },
      { key: 'llama.context_length', type: GGUFValueType.UINT32, value: 64 },
      { key: 'llama.embedding_length', type: GGUFValueType.UINT32, value: 32 },
      { key: 'llama.attention.layer_norm_rms_epsilon', type: GGUFValueType.FLOAT32, value: 1e-5 },
      { key: 'tokenizer.ggml.tokens', value: new GGUFArray(GGUFValueType.STRING, ['<unk>', '<s>', '</s>', 'a', 'b']) },
      { key: 'tokenizer.ggml.scores', value: new GGUFArray(GGUFValueType.FLOAT32, new Float32Array([0, 0, 0, -1, -2])) },
      { key: 'tokenizer.ggml.add_bos_token', value: true },
    ],
    tensors: [
      { name: 'norm.weight', dims: [32], type: GGMLType.F32, data: new Uint8Array(128).fill(1) },
      { name: 'q4.weight', dims: [64, 2], type: GGMLType.Q4_0, data: new Uint8Array(72).fill(2) },
      { name: 'q8.weight', dims: [32, 3], type: GGMLType.Q8_0, data: new Uint8Array(102).fill(3) },
    ],
  };
}

export function smallFile(): Promise<Uint8Array> {
  return writeGGUFToBytes(smallSpec());
}

/**
 * Raw GGUF bytes written field by field (no GGUFArray objects), so a test can build a header of
 * tens of megabytes made of millions of tiny items without holding them in memory itself.
 */
export class RawGGUF {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  constructor(tensorCount: number, kvCount: number) {
    this.u32(0x46554747).u32(3).u64(tensorCount).u64(kvCount);
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.length++] = v;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
    return this;
  }
  u64(v: number | bigint): this {
    this.room(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.u64(b.length).room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  zeros(n: number): this {
    this.room(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
    return this;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Distinct short names: 0, 1, …, z, 10, 11, … (base 36). */
export const shortName = (i: number): string => i.toString(36);

export type HeapBombKind = 'empty-arrays' | 'one-item-arrays' | 'empty-strings' | 'short-strings' | 'tiny-tensors' | 'tiny-keys';

/**
 * A GGUF whose header is about `headerBytes` long and made of one kind of tiny item, each cheap in
 * the file and (before the reader's heap budget) expensive in memory:
 * - empty-arrays: one key holding an array of empty UINT8 arrays (12 bytes each)
 * - one-item-arrays: the same with one UINT8 item each (13 bytes)
 * - empty-strings: an array of zero-length strings (8 bytes each)
 * - short-strings: an array of distinct 2-to-4-character strings (10 to 12 bytes each)
 * - tiny-tensors: 1-dimension I8 tensors of one element with 1-to-4-character names (~35 bytes each)
 * - tiny-keys: metadata entries with short distinct keys and UINT8 values (~16 bytes each)
 */
export function heapBomb(kind: HeapBombKind, headerBytes: number): Uint8Array {
  if (kind === 'tiny-tensors') {
    const n = Math.floor(headerBytes / 35);
    const f = new RawGGUF(n, 1).str('general.alignment').u32(GGUFValueType.UINT32).u32(1);
    for (let i = 0; i < n; i++) f.str(shortName(i)).u32(1).u64(1).u32(GGMLType.I8).u64(i);
    return f.zeros(n).bytes();
  }
  if (kind === 'tiny-keys') {
    const n = Math.floor(headerBytes / 16);
    const f = new RawGGUF(0, n);
    for (let i = 0; i < n; i++) f.str(shortName(i)).u32(GGUFValueType.UINT8).u8(1);
    return f.bytes();
  }
  const itemBytes = { 'empty-arrays': 12, 'one-item-arrays': 13, 'empty-strings': 8, 'short-strings': 11 }[kind];
  const n = Math.floor(headerBytes / itemBytes);
  const nested = kind === 'empty-arrays' || kind === 'one-item-arrays';
  const f = new RawGGUF(0, 1)
    .str('bomb')
    .u32(GGUFValueType.ARRAY)
    .u32(nested ? GGUFValueType.ARRAY : GGUFValueType.STRING)
    .u64(n);
  for (let i = 0; i < n; i++) {
    if (kind === 'empty-arrays') f.u32(GGUFValueType.UINT8).u64(0);
    else if (kind === 'one-item-arrays') f.u32(GGUFValueType.UINT8).u64(1).u8(7);
    else if (kind === 'empty-strings') f.u64(0);
    else f.str(shortName(i + 36)); // at least 2 characters: V8 shares 1-character strings
  }
  return f.bytes();
}
