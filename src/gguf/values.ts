/**
 * GGUF metadata value types and their in-memory form.
 *
 * Representation (chosen so read → write reproduces the file byte for byte):
 * - UINT8…INT32 and FLOAT32/FLOAT64 scalars are `number`; UINT64/INT64 scalars are always `bigint`
 *   (even when small), so the declared width is never guessed back from a value.
 * - BOOL is `boolean`; the reader rejects bytes other than 0 and 1.
 * - STRING is a JS string (decoded as strict UTF-8, BOM kept).
 * - ARRAY is a {@link GGUFArray}: numeric items in the matching typed array (BOOL items in a
 *   Uint8Array holding 0/1), strings packed ({@link PackedStrings}; `items` gives a `string[]`),
 *   nested arrays in a `GGUFArray[]`.
 * Every metadata entry keeps its declared {@link GGUFValueType} beside the value.
 */

import { PackedStrings } from './packed-strings.ts';

export enum GGUFValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

export type GGUFTypedArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array;

export type GGUFArrayItems = GGUFTypedArray | string[] | GGUFArray[];

export type GGUFValue = number | bigint | boolean | string | GGUFArray;

/**
 * An array value: the declared item type plus the items in their compact form. STRING items are
 * held packed ({@link PackedStrings}; an unpaired surrogate becomes U+FFFD, as when written):
 * `items` builds a fresh `string[]` on each access, `packedStrings` gives the bytes without making
 * any string.
 */
export class GGUFArray {
  private readonly stored: GGUFArrayItems | PackedStrings;

  constructor(
    readonly itemType: GGUFValueType,
    items: GGUFArrayItems | PackedStrings,
  ) {
    if (!isValueType(itemType)) throw new TypeError(`unknown GGUF array item type ${itemType}`);
    if (items instanceof PackedStrings && itemType !== GGUFValueType.STRING) throw new TypeError('packed strings make a STRING array only');
    // Strings are always held packed, however they were given, so equal arrays look equal.
    const strings = itemType === GGUFValueType.STRING && Array.isArray(items) && items.every((s) => typeof s === 'string');
    this.stored = strings ? PackedStrings.fromStrings(items as string[]) : items;
  }

  get items(): GGUFArrayItems {
    return this.stored instanceof PackedStrings ? this.stored.toArray() : this.stored;
  }

  /** The strings of a STRING array in packed form; undefined for other arrays. */
  get packedStrings(): PackedStrings | undefined {
    return this.stored instanceof PackedStrings ? this.stored : undefined;
  }

  get length(): number {
    return this.stored.length;
  }

  /** Item `i` in scalar form (BOOL items as booleans). */
  at(i: number): GGUFValue | undefined {
    if (this.stored instanceof PackedStrings) return i >= 0 && i < this.stored.length ? this.stored.get(i) : undefined;
    const v = this.stored[i];
    if (v === undefined) return undefined;
    return this.itemType === GGUFValueType.BOOL ? v !== 0 : v;
  }

  /** Plain JS array of the items (nested arrays converted recursively). */
  toArray(): unknown[] {
    const out: unknown[] = [];
    for (let i = 0; i < this.length; i++) {
      const v = this.at(i);
      out.push(v instanceof GGUFArray ? v.toArray() : v);
    }
    return out;
  }
}

/** Byte width of a fixed-size scalar type; undefined for STRING and ARRAY. */
export function scalarByteSize(type: GGUFValueType): number | undefined {
  switch (type) {
    case GGUFValueType.UINT8:
    case GGUFValueType.INT8:
    case GGUFValueType.BOOL:
      return 1;
    case GGUFValueType.UINT16:
    case GGUFValueType.INT16:
      return 2;
    case GGUFValueType.UINT32:
    case GGUFValueType.INT32:
    case GGUFValueType.FLOAT32:
      return 4;
    case GGUFValueType.UINT64:
    case GGUFValueType.INT64:
    case GGUFValueType.FLOAT64:
      return 8;
    default:
      return undefined;
  }
}

export function isValueType(t: number): t is GGUFValueType {
  return Number.isInteger(t) && t >= 0 && t <= 12;
}

export function valueTypeName(t: number): string {
  return isValueType(t) ? GGUFValueType[t] : `type ${t}`;
}

export function isIntegerType(t: GGUFValueType): boolean {
  return t <= GGUFValueType.INT32 || t === GGUFValueType.UINT64 || t === GGUFValueType.INT64;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Typed array of `count` items of fixed-size `type` decoded from little-endian `bytes` (copied, so
 * the result is aligned and does not pin the read buffer, unless `owned` says `bytes` is a fresh
 * array of exactly those items that nothing else holds).
 */
export function decodeTypedArray(type: GGUFValueType, bytes: Uint8Array, count: number, options: { owned?: boolean } = {}): GGUFTypedArray {
  const width = scalarByteSize(type)!;
  // An owned array that is exactly its buffer becomes the values' storage; anything else is copied.
  const whole =
    options.owned && bytes.byteOffset === 0 && bytes.byteLength === count * width && bytes.buffer.byteLength === bytes.byteLength;
  const copy = whole ? bytes : bytes.slice(0, count * width);
  if (!littleEndianHost && width > 1) {
    // Byte-swap each item in place so the host-order view below reads the little-endian values.
    for (let i = 0; i < copy.length; i += width) copy.subarray(i, i + width).reverse();
  }
  const buf = copy.buffer;
  switch (type) {
    case GGUFValueType.UINT8:
    case GGUFValueType.BOOL:
      return copy;
    case GGUFValueType.INT8:
      return new Int8Array(buf);
    case GGUFValueType.UINT16:
      return new Uint16Array(buf);
    case GGUFValueType.INT16:
      return new Int16Array(buf);
    case GGUFValueType.UINT32:
      return new Uint32Array(buf);
    case GGUFValueType.INT32:
      return new Int32Array(buf);
    case GGUFValueType.FLOAT32:
      return new Float32Array(buf);
    case GGUFValueType.FLOAT64:
      return new Float64Array(buf);
    case GGUFValueType.UINT64:
      return new BigUint64Array(buf);
    case GGUFValueType.INT64:
      return new BigInt64Array(buf);
    default:
      throw new TypeError(`${valueTypeName(type)} is not a fixed-size type`);
  }
}

/** Little-endian bytes of a typed array (a view when the host is little-endian). */
export function encodeTypedArray(items: GGUFTypedArray): Uint8Array {
  const view = new Uint8Array(items.buffer, items.byteOffset, items.byteLength);
  if (littleEndianHost || items.BYTES_PER_ELEMENT === 1) return view;
  const copy = view.slice();
  for (let i = 0; i < copy.length; i += items.BYTES_PER_ELEMENT) copy.subarray(i, i + items.BYTES_PER_ELEMENT).reverse();
  return copy;
}

/** The typed-array class expected for an item type, for validating writer input. */
export function typedArrayMatches(type: GGUFValueType, items: unknown): boolean {
  switch (type) {
    case GGUFValueType.UINT8:
    case GGUFValueType.BOOL:
      return items instanceof Uint8Array;
    case GGUFValueType.INT8:
      return items instanceof Int8Array;
    case GGUFValueType.UINT16:
      return items instanceof Uint16Array;
    case GGUFValueType.INT16:
      return items instanceof Int16Array;
    case GGUFValueType.UINT32:
      return items instanceof Uint32Array;
    case GGUFValueType.INT32:
      return items instanceof Int32Array;
    case GGUFValueType.FLOAT32:
      return items instanceof Float32Array;
    case GGUFValueType.FLOAT64:
      return items instanceof Float64Array;
    case GGUFValueType.UINT64:
      return items instanceof BigUint64Array;
    case GGUFValueType.INT64:
      return items instanceof BigInt64Array;
    case GGUFValueType.STRING:
    case GGUFValueType.ARRAY:
      return Array.isArray(items);
  }
}

/**
 * A value type for a JS value when the caller did not declare one (writer convenience):
 * string → STRING, boolean → BOOL, bigint → INT64 (UINT64 if ≥ 2^63), integer number → UINT32 /
 * INT32 when it fits, else FLOAT32 for fractional numbers, FLOAT64 for integers outside 32 bits;
 * typed arrays and GGUFArray → ARRAY.
 */
export function inferValueType(value: unknown): GGUFValueType {
  if (typeof value === 'string') return GGUFValueType.STRING;
  if (typeof value === 'boolean') return GGUFValueType.BOOL;
  if (typeof value === 'bigint') return value >= 1n << 63n ? GGUFValueType.UINT64 : GGUFValueType.INT64;
  if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      if (value >= 0 && value <= 0xffffffff) return GGUFValueType.UINT32;
      if (value >= -0x80000000 && value < 0) return GGUFValueType.INT32;
      return GGUFValueType.FLOAT64;
    }
    return GGUFValueType.FLOAT32;
  }
  if (value instanceof GGUFArray || ArrayBuffer.isView(value) || Array.isArray(value)) return GGUFValueType.ARRAY;
  throw new TypeError(`cannot infer a GGUF type for ${typeof value}`);
}

/** Wrap a typed array, string[] or (nested) plain array as a GGUFArray, inferring its item type. */
export function toGGUFArray(value: unknown): GGUFArray {
  if (value instanceof GGUFArray) return value;
  if (value instanceof Uint8Array) return new GGUFArray(GGUFValueType.UINT8, value);
  if (value instanceof Int8Array) return new GGUFArray(GGUFValueType.INT8, value);
  if (value instanceof Uint16Array) return new GGUFArray(GGUFValueType.UINT16, value);
  if (value instanceof Int16Array) return new GGUFArray(GGUFValueType.INT16, value);
  if (value instanceof Uint32Array) return new GGUFArray(GGUFValueType.UINT32, value);
  if (value instanceof Int32Array) return new GGUFArray(GGUFValueType.INT32, value);
  if (value instanceof Float32Array) return new GGUFArray(GGUFValueType.FLOAT32, value);
  if (value instanceof Float64Array) return new GGUFArray(GGUFValueType.FLOAT64, value);
  if (value instanceof BigUint64Array) return new GGUFArray(GGUFValueType.UINT64, value);
  if (value instanceof BigInt64Array) return new GGUFArray(GGUFValueType.INT64, value);
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) return new GGUFArray(GGUFValueType.STRING, value as string[]);
    if (value.every((v) => typeof v === 'boolean')) return new GGUFArray(GGUFValueType.BOOL, Uint8Array.from(value as boolean[], Number));
    if (value.every((v) => typeof v === 'number')) {
      const nums = value as number[];
      if (nums.every((v) => Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff))
        return new GGUFArray(GGUFValueType.INT32, Int32Array.from(nums));
      return new GGUFArray(GGUFValueType.FLOAT32, Float32Array.from(nums));
    }
    if (value.every((v) => v instanceof GGUFArray || Array.isArray(v) || ArrayBuffer.isView(v))) {
      return new GGUFArray(GGUFValueType.ARRAY, value.map(toGGUFArray));
    }
  }
  throw new TypeError('cannot convert value to a GGUF array (mixed or unsupported item types)');
}
