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
