/**
 * GGUF v3 (or v2) writer. The header is built in memory (metadata + tensor infos, a few MB at
 * most); tensor data streams from each tensor's source, so multi-hundred-MB synthetic models can be
 * written without holding them whole.
 *
 * Layout matches ggml's writer so read → write reproduces real files byte for byte: zero padding
 * to the alignment after the tensor infos (only when there are tensors), each tensor's data padded
 * with zeros to the alignment, including the last one.
 */
import type { ByteSource } from '../io/byte-source.ts';
import { quantLayout, tensorByteSize } from '../quant/types.ts';
import type { GGUFFile } from './file.ts';
import { alignUp, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_ALIGNMENT, MAX_TENSOR_DIMS, readTensorChunks } from './reader.ts';
import {
  encodeTypedArray,
  GGUFArray,
  GGUFValueType,
  inferValueType,
  isIntegerType,
  scalarByteSize,
  toGGUFArray,
  typedArrayMatches,
  valueTypeName,
  type GGUFTypedArray,
  type GGUFValue,
} from './values.ts';

export interface GGUFMetadataInput {
  key: string;
  /** Declared type; inferred from the value when omitted (see `inferValueType`). */
  type?: GGUFValueType;
  /** A GGUFValue; with an ARRAY type, plain arrays and typed arrays are accepted too. */
  value: unknown;
}

/** Tensor bytes: in memory, an (async) iterable of chunks, or a function producing either. */
export type TensorDataInput =
  | Uint8Array
  | Iterable<Uint8Array>
  | AsyncIterable<Uint8Array>
  | (() => Uint8Array | Promise<Uint8Array> | Iterable<Uint8Array> | AsyncIterable<Uint8Array>);

export interface GGUFTensorInput {
  name: string;
  /** ggml order (ne[0] = row length). */
  dims: readonly number[];
  /** GGML type id (`GGMLType.Q4_K`, …). */
  type: number;
  /** Exactly the tensor's byte size; omitted → zero bytes of that size. */
  data?: TensorDataInput;
  /** Offset in the data section; omitted → packed after the previous tensor (in array order). */
  offset?: number;
}

export interface GGUFWriteSpec {
  /** 3 (default) or 2; the two encode identically in little-endian files. */
  version?: 2 | 3;
  /** Entries in order, or a record whose value types are inferred. */
  metadata?: Iterable<GGUFMetadataInput> | Record<string, unknown>;
  tensors?: readonly GGUFTensorInput[];
  /**
   * Data alignment. Defaults to `general.alignment` from the metadata, else 32. A non-default
   * value absent from the metadata is added as `general.alignment` (UINT32) so readers see it.
   */
  alignment?: number;
  /** Pad the end of the file to the alignment (default: true when there are tensors). */
  padEnd?: boolean;
}

export interface PlannedTensor {
  readonly input: GGUFTensorInput;
  readonly offset: number;
  readonly byteSize: number;
}

/** The encoded header plus where everything goes; `totalSize` is the exact output length. */
export interface GGUFWritePlan {
  readonly header: Uint8Array;
  readonly alignment: number;
  readonly dataOffset: number;
  readonly tensors: readonly PlannedTensor[];
  readonly totalSize: number;
}

const utf8 = new TextEncoder();

/** Growable little-endian byte builder for the header. */
class ByteBuilder {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  scalar(type: GGUFValueType, v: number | bigint, key: string): void {
    this.reserve(8);
    const dv = this.view;
    const at = this.length;
    switch (type) {
      case GGUFValueType.UINT8:
        dv.setUint8(at, checkInt(v, 0, 0xff, key));
        break;
      case GGUFValueType.INT8:
        dv.setInt8(at, checkInt(v, -0x80, 0x7f, key));
        break;
      case GGUFValueType.UINT16:
        dv.setUint16(at, checkInt(v, 0, 0xffff, key), true);
        break;
      case GGUFValueType.INT16:
        dv.setInt16(at, checkInt(v, -0x8000, 0x7fff, key), true);
        break;
      case GGUFValueType.UINT32:
        dv.setUint32(at, checkInt(v, 0, 0xffffffff, key), true);
        break;
      case GGUFValueType.INT32:
        dv.setInt32(at, checkInt(v, -0x80000000, 0x7fffffff, key), true);
        break;
      case GGUFValueType.FLOAT32:
        dv.setFloat32(at, checkNumber(v, key), true);
        break;
      case GGUFValueType.FLOAT64:
        dv.setFloat64(at, checkNumber(v, key), true);
        break;
      case GGUFValueType.UINT64:
        dv.setBigUint64(at, checkBig(v, 0n, (1n << 64n) - 1n, key), true);
        break;
      case GGUFValueType.INT64:
        dv.setBigInt64(at, checkBig(v, -(1n << 63n), (1n << 63n) - 1n, key), true);
        break;
      default:
        throw new TypeError(`${key}: ${valueTypeName(type)} is not a scalar type`);
    }
    this.length += scalarByteSize(type)!;
  }
  string(s: string): void {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function checkInt(v: number | bigint, lo: number, hi: number, key: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new RangeError(`metadata "${key}": ${v} is outside [${lo}, ${hi}]`);
  return n;
}
function checkNumber(v: number | bigint, key: string): number {
  if (typeof v !== 'number') throw new TypeError(`metadata "${key}": expected a number, got ${typeof v}`);
  return v;
}
function checkBig(v: number | bigint, lo: bigint, hi: bigint, key: string): bigint {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`metadata "${key}": ${v} is not an exact integer`);
  const b = BigInt(v);
  if (b < lo || b > hi) throw new RangeError(`metadata "${key}": ${v} is outside [${lo}, ${hi}]`);
  return b;
}

function writeValue(out: ByteBuilder, type: GGUFValueType, value: unknown, key: string): void {
  if (type === GGUFValueType.STRING) {
    if (typeof value !== 'string') throw new TypeError(`metadata "${key}": STRING needs a string, got ${typeof value}`);
    out.string(value);
  } else if (type === GGUFValueType.BOOL) {
    if (typeof value !== 'boolean') throw new TypeError(`metadata "${key}": BOOL needs a boolean, got ${typeof value}`);
    out.u8(value ? 1 : 0);
  } else if (type === GGUFValueType.ARRAY) {
    writeArray(out, toGGUFArray(value), key);
  } else {
    if (typeof value !== 'number' && typeof value !== 'bigint') {
      throw new TypeError(`metadata "${key}": ${valueTypeName(type)} needs a number or bigint, got ${typeof value}`);
    }
    out.scalar(type, value, key);
  }
}

function writeArray(out: ByteBuilder, arr: GGUFArray, key: string): void {
  out.u32(arr.itemType);
  out.u64(arr.length);
  const packed = arr.packedStrings;
  if (packed) {
    // written from the bytes: a vocabulary's strings are never made
    for (let i = 0; i < packed.length; i++) {
      out.u64(packed.byteLength(i));
      out.bytes(packed.bytesOf(i));
    }
    return;
  }
  if (!typedArrayMatches(arr.itemType, arr.items)) {
    throw new TypeError(`metadata "${key}": items do not match the array item type ${valueTypeName(arr.itemType)}`);
  }
  if (scalarByteSize(arr.itemType) !== undefined) {
    if (arr.itemType === GGUFValueType.BOOL && (arr.items as Uint8Array).some((b) => b > 1)) {
      throw new RangeError(`metadata "${key}": BOOL array items must be 0 or 1`);
    }
    out.bytes(encodeTypedArray(arr.items as GGUFTypedArray));
  } else if (arr.itemType === GGUFValueType.STRING) {
    for (const s of arr.items as string[]) {
      if (typeof s !== 'string') throw new TypeError(`metadata "${key}": STRING array holds a ${typeof s}`);
      out.string(s);
    }
  } else {
    for (const a of arr.items as GGUFArray[]) writeArray(out, toGGUFArray(a), key);
  }
}

function metadataEntries(spec: GGUFWriteSpec): { key: string; type: GGUFValueType; value: unknown }[] {
  const m = spec.metadata;
  const raw: GGUFMetadataInput[] =
    m === undefined
      ? []
      : Symbol.iterator in m
        ? [...(m as Iterable<GGUFMetadataInput>)]
        : Object.entries(m).map(([key, value]) => ({ key, value }));
  return raw.map((e) => ({ key: e.key, type: e.type ?? inferValueType(e.value), value: e.value }));
}

/** Encode the header and place every tensor. Throws TypeError/RangeError on an invalid spec. */
export function planGGUF(spec: GGUFWriteSpec): GGUFWritePlan {
  const entries = metadataEntries(spec);
  const keys = new Set<string>();
  for (const e of entries) {
    if (keys.has(e.key)) throw new TypeError(`duplicate metadata key "${e.key}"`);
    keys.add(e.key);
  }

  const alignEntry = entries.find((e) => e.key === 'general.alignment');
  let alignment = spec.alignment ?? DEFAULT_ALIGNMENT;
  if (alignEntry) {
    if (!isIntegerType(alignEntry.type)) throw new TypeError('general.alignment must be an integer type');
    const a = Number(alignEntry.value as number | bigint);
    if (spec.alignment !== undefined && spec.alignment !== a) {
      throw new RangeError(`alignment ${spec.alignment} disagrees with general.alignment ${a}`);
    }
    alignment = a;
  } else if (alignment !== DEFAULT_ALIGNMENT) {
    entries.push({ key: 'general.alignment', type: GGUFValueType.UINT32, value: alignment });
  }
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment > MAX_ALIGNMENT || (alignment & (alignment - 1)) !== 0) {
    throw new RangeError(`alignment ${alignment} must be a power of two between 1 and ${MAX_ALIGNMENT}`);
  }

  const tensorInputs = spec.tensors ?? [];
  const out = new ByteBuilder();
  out.u32(GGUF_MAGIC);
  out.u32(spec.version ?? 3);
  out.u64(tensorInputs.length);
  out.u64(entries.length);
  for (const e of entries) {
    out.string(e.key);
    out.u32(e.type);
    writeValue(out, e.type, e.value as GGUFValue, e.key);
  }

  const planned: PlannedTensor[] = [];
  const names = new Set<string>();
  let next = 0;
  for (const t of tensorInputs) {
    if (names.has(t.name)) throw new TypeError(`duplicate tensor name "${t.name}"`);
    names.add(t.name);
    const layout = quantLayout(t.type);
    if (!layout) throw new RangeError(`tensor "${t.name}": unknown tensor type id ${t.type}`);
    if (t.dims.length > MAX_TENSOR_DIMS) throw new RangeError(`tensor "${t.name}": ${t.dims.length} dims; at most ${MAX_TENSOR_DIMS}`);
    let n = 1;
    for (const d of t.dims) {
      if (!Number.isSafeInteger(d) || d <= 0) throw new RangeError(`tensor "${t.name}": dimension ${d} is not a positive integer`);
      n *= d;
    }
    if (!Number.isSafeInteger(n)) throw new RangeError(`tensor "${t.name}": element count overflows 2^53`);
    if ((t.dims[0] ?? 1) % layout.blockSize !== 0) {
      throw new RangeError(`tensor "${t.name}": ne[0] = ${t.dims[0]} is not a multiple of ${layout.name}'s block size ${layout.blockSize}`);
    }
    const byteSize = tensorByteSize(layout, n);
    const offset = t.offset ?? alignUp(next, alignment);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % alignment !== 0) {
      throw new RangeError(`tensor "${t.name}": offset ${offset} is not a non-negative multiple of ${alignment}`);
    }
    next = offset + byteSize;
    planned.push({ input: t, offset, byteSize });

    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(t.type);
    out.u64(offset);
  }

  const byOffset = [...planned].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    if (byOffset[i]!.offset < prev.offset + prev.byteSize) {
      throw new RangeError(`tensor "${byOffset[i]!.input.name}" overlaps tensor "${prev.input.name}"`);
    }
  }

  const header = out.result();
  const hasTensors = planned.length > 0;
  const dataOffset = hasTensors ? alignUp(header.length, alignment) : header.length;
  const last = byOffset.at(-1);
  const dataEnd = last ? last.offset + last.byteSize : 0;
  const padEnd = spec.padEnd ?? hasTensors;
  const totalSize = dataOffset + (padEnd ? alignUp(dataEnd, alignment) : dataEnd);
  return { header, alignment, dataOffset, tensors: byOffset, totalSize };
}

const ZERO_CHUNK = 1 << 20;

function* zeros(n: number): Generator<Uint8Array> {
  for (let left = n; left > 0; left -= ZERO_CHUNK) yield new Uint8Array(Math.min(left, ZERO_CHUNK));
}

async function* tensorChunks(t: PlannedTensor): AsyncGenerator<Uint8Array> {
  let data: unknown = t.input.data;
  if (data === undefined) {
    yield* zeros(t.byteSize);
    return;
  }
  if (typeof data === 'function') data = await (data as () => unknown)();
  let written = 0;
  const chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> =
    data instanceof Uint8Array ? [data] : (data as AsyncIterable<Uint8Array>);
  for await (const chunk of chunks) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError(`tensor "${t.input.name}": data chunks must be Uint8Array`);
    written += chunk.length;
    if (written > t.byteSize) break;
    if (chunk.length) yield chunk;
  }
  if (written > t.byteSize)
    throw new RangeError(`tensor "${t.input.name}": data is longer than the ${t.byteSize} bytes its dims and type need`);
  if (written < t.byteSize) throw new RangeError(`tensor "${t.input.name}": data has only ${written} bytes; expected ${t.byteSize}`);
}

/** Stream a GGUF file as chunks (header first, then each tensor's data with zero padding). */
export async function* writeGGUF(spec: GGUFWriteSpec | GGUFWritePlan): AsyncGenerator<Uint8Array> {
  const plan = 'header' in spec ? spec : planGGUF(spec);
  yield plan.header;
  let pos = plan.header.length;
  for (const t of plan.tensors) {
    const at = plan.dataOffset + t.offset;
    yield* zeros(at - pos);
    yield* tensorChunks(t);
    pos = at + t.byteSize;
  }
  yield* zeros(plan.totalSize - pos);
}

/** The whole file in memory (for small models and tests). */
export async function writeGGUFToBytes(spec: GGUFWriteSpec | GGUFWritePlan): Promise<Uint8Array> {
  const plan = 'header' in spec ? spec : planGGUF(spec);
  const out = new Uint8Array(plan.totalSize);
  let pos = 0;
  for await (const chunk of writeGGUF(plan)) {
    out.set(chunk, pos);
    pos += chunk.length;
  }
  return out;
}

/**
 * A write spec that reproduces a parsed file: same metadata (types and order), same tensor infos
 * and offsets, data streamed from `source` in chunks.
 */
export function specFromFile(file: GGUFFile, source: ByteSource, chunkBytes?: number): GGUFWriteSpec {
  const lastEnd = Math.max(file.headerSize, ...file.tensors.map((t) => t.absoluteOffset + t.byteSize));
  return {
    version: file.version === 2 ? 2 : 3,
    metadata: [...file.metadata.values()].map(({ key, type, value }) => ({ key, type, value })),
    tensors: file.tensors.map((t) => ({
      name: t.name,
      dims: t.dims,
      type: t.typeId,
      offset: t.offset,
      data: () => readTensorChunks(source, t, chunkBytes),
    })),
    alignment: file.alignment,
    padEnd: file.tensors.length > 0 && file.fileSize > lastEnd,
  };
}
