/**
 * Validating GGUF v2/v3 reader. Parses the header (metadata + tensor table) through a buffered
 * forward cursor, so only the header bytes are requested from the ByteSource, never the tensor data.
 *
 * File layout (little-endian):
 *   magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
 *   kv_count × { key: string, value_type u32, value }
 *   tensor_count × { name: string, n_dims u32, ne u64[n_dims], type u32, offset u64 }
 *   zero padding to `general.alignment` (default 32) | tensor data (each offset relative to here)
 * where string = { len u64, UTF-8 bytes } and array = { item_type u32, count u64, items }.
 *
 * Untrusted input: every length and count is checked against the bytes left in the file (and
 * under the header size limit) before anything is allocated, and everything the parsed header keeps
 * is charged to a heap budget that grows with the bytes parsed (see {@link HEAP_BYTES_PER_HEADER_BYTE}),
 * so a header of N bytes costs at most about 4N + 16 MiB of memory whatever its shape.
 */
import { GGUFFormatError, UnsupportedTensorTypeError } from '../errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { quantLayout, tensorByteSize } from '../quant/types.ts';
import { ByteCursor } from './cursor.ts';
import { BlockPool, isWellFormedUtf8, PackedStringsBuilder } from './packed-strings.ts';
import { GGUFFile, quotedName, type GGUFMetadataEntry, type GGUFTensorInfo } from './file.ts';
import { decodeTypedArray, GGUFArray, GGUFValueType, isIntegerType, isValueType, scalarByteSize, type GGUFValue } from './values.ts';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
export const DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
export const MAX_TENSOR_DIMS = 4;
/** Arrays of arrays deeper than this are rejected (real files use none; the limit bounds recursion). */
export const MAX_ARRAY_DEPTH = 8;
/** Largest `general.alignment` accepted. */
export const MAX_ALIGNMENT = 1 << 30;

/**
 * Heap budget of a parsed header. Every string, array, metadata entry and tensor info the reader
 * keeps is charged at an estimate of what it costs on the V8 heap ({@link HEAP_COST}), and the
 * total may not exceed HEAP_BYTES_PER_HEADER_BYTE × (header bytes parsed so far) + HEAP_SLACK_BYTES.
 * A byte budget alone is not enough: a 12-byte empty nested array costs ~250 bytes of heap, so a
 * 36 MB header of them took 1.3 GB. Real headers cost under 3 bytes per byte (vocabulary strings,
 * typed number arrays, a few hundred metadata entries and tensor infos, all within the slack);
 * headers made of many tiny items (nested arrays, short strings by the million, tens of thousands
 * of tensors) run over it and are a GGUFFormatError.
 */
export const HEAP_BYTES_PER_HEADER_BYTE = 4;
export const HEAP_SLACK_BYTES = 16 * 1024 * 1024;

/**
 * Estimated V8 heap bytes per kept object (64-bit, no pointer compression; measured with
 * process.memoryUsage after GC, rounded up).
 */
const HEAP_COST = {
  /** A slot in an array grown by push (8 bytes plus up to half again of spare capacity). */
  slot: 12,
  /** String header; the characters follow, padded to 8 bytes. */
  string: 16,
  /** A GGUFArray plus its JS array (or typed array: see `typedArray`). */
  array: 96,
  /** A typed array with its ArrayBuffer and backing-store record, before its items. */
  typedArray: 256,
  /** A metadata entry object, its Map slot and a boxed scalar value. */
  entry: 160,
  /** A tensor info object, its dims array header, its slots in the name map, set and sorted copy. */
  tensor: 320,
} as const;

/** Estimated heap bytes of a decoded string of `byteLength` UTF-8 bytes. */
function stringHeapBytes(s: string, byteLength: number): number {
  // V8 shares the empty string and single one-byte characters.
  const oneByte = s.length === byteLength;
  if (s.length === 0 || (s.length === 1 && oneByte)) return 0;
  return HEAP_COST.string + (((oneByte ? s.length : 2 * s.length) + 7) & ~7);
}

// Smallest possible encodings, used to bound counts by the bytes left before allocating.
const MIN_KV_BYTES = 8 + 4 + 1; // empty key, type tag, 1-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8; // empty name, n_dims = 0, type, offset
const MIN_STRING_BYTES = 8;
const MIN_ARRAY_BYTES = 4 + 8;

export interface ReadGGUFOptions {
  signal?: AbortSignal;
  /**
   * Accept a file whose header is intact but whose tensor data area is cut short: the result has
   * `truncated: true` and the affected tensors are listed in `missingTensors`. Default false:
   * such a file is a GGUFFormatError naming the first tensor that runs past the end.
   */
  allowTruncatedData?: boolean;
  /** Header (metadata + tensor infos) size limit; default 512 MiB. */
  maxHeaderBytes?: number;
  /** First read size of the header cursor; default 64 KiB (later reads double, up to 256 KiB). */
  initialReadBytes?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class HeaderParser {
  private readonly cur: ByteCursor;
  private readonly name: string;
  /** Heap bytes charged so far (see HEAP_BYTES_PER_HEADER_BYTE). */
  private heapBytes = 0;
  /** The string arrays' builders pass their blocks on (the merges reuse the tokens'). */
  private readonly blockPool = new BlockPool();

  constructor(source: ByteSource, options: ReadGGUFOptions) {
    this.name = source.name;
    this.cur = new ByteCursor(source, {
      initialChunkBytes: options.initialReadBytes,
      limitBytes: options.maxHeaderBytes ?? 512 * 1024 * 1024,
      signal: options.signal,
    });
  }

  get bytesRequested(): number {
    return this.cur.bytesRequested;
  }

  get pos(): number {
    return this.cur.pos;
  }

  fail(message: string, offset: number, field: string): never {
    throw new GGUFFormatError(`${this.name}: ${field} at byte ${offset}: ${message}`, offset, field);
  }

  /** Charge `bytes` of heap; false when the budget for the bytes parsed so far is exceeded. */
  spend(bytes: number): boolean {
    this.heapBytes += bytes;
    return this.heapBytes <= HEAP_BYTES_PER_HEADER_BYTE * this.cur.pos + HEAP_SLACK_BYTES;
  }

  /** `spend`, failing with an error that names `field` when over budget. */
  charge(bytes: number, field: string): void {
    if (this.spend(bytes)) return;
    const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);
    this.fail(
      `the header would need more than ${mib(this.heapBytes)} MiB of memory for its first ${this.cur.pos} bytes ` +
        `(limit ${HEAP_BYTES_PER_HEADER_BYTE} bytes per header byte + ${mib(HEAP_SLACK_BYTES)} MiB): too many tiny arrays, strings or tensors`,
      this.cur.pos,
      field,
    );
  }

  async u32(field: string): Promise<number> {
    if (!this.cur.has(4)) await this.cur.fill(4, field);
    return this.cur.u32();
  }

  async u64(field: string): Promise<bigint> {
    if (!this.cur.has(8)) await this.cur.fill(8, field);
    return this.cur.u64();
  }

  /** A u64 count or size that must fit a JS number; `minItemBytes` bounds it by the bytes left after it. */
  async count(field: string, minItemBytes: number): Promise<number> {
    const at = this.cur.pos;
    if (!this.cur.has(8)) await this.cur.fill(8, field);
    const raw = this.cur.u64();
    const left = this.cur.remaining;
    const what = minItemBytes > 1 ? `entries of at least ${minItemBytes} bytes each` : 'bytes';
    const fits = (bytes: number) => raw <= BigInt(Math.floor(bytes / Math.max(1, minItemBytes)));
    if (!fits(left)) this.fail(`${raw} ${what} cannot fit in the ${left} bytes left in the file`, at, field);
    // Also bounded by the header limit, so a count is never trusted beyond what may be parsed.
    const headerLeft = this.cur.limitOffset - this.cur.pos;
    if (!fits(headerLeft)) {
      this.fail(`${raw} ${what} would reach beyond the ${this.cur.limitOffset}-byte header limit (${headerLeft} bytes left)`, at, field);
    }
    return Number(raw);
  }

  async string(field: string): Promise<string> {
    // stringBytes has checked the bytes, so the strict decoder cannot throw here.
    const bytes = await this.stringBytes(field);
    const s = utf8.decode(bytes);
    this.charge(stringHeapBytes(s, bytes.length), field);
    return s;
  }

  /** A string's UTF-8 bytes, checked well-formed (a view valid until the next read). */
  async stringBytes(field: string): Promise<Uint8Array> {
    const len = await this.count(`${field} length`, 1);
    const at = this.cur.pos;
    if (!this.cur.has(len)) await this.cur.fill(len, field);
    const bytes = this.cur.take(len);
    if (!isWellFormedUtf8(bytes)) this.fail(`invalid UTF-8 in a ${len}-byte string`, at, field);
    return bytes;
  }

  /**
   * Fast path for vocabularies (hundreds of thousands of strings): a string already in the buffer
   * and well-formed is appended to `items` in place, without awaiting and without a BigInt or a
   * view made for it; returns its byte length. Anything else returns -1 and the caller takes the
   * checked path, which also produces the error message.
   */
  pushBufferedString(items: PackedStringsBuilder): number {
    const c = this.cur;
    if (!c.has(8)) return -1;
    const len = c.peekU32OfU64();
    if (len < 0 || len > c.remaining - 8 || !c.has(8 + len)) return -1;
    const start = c.pos;
    c.takeIndex(8);
    const at = c.takeIndex(len);
    if (!isWellFormedUtf8(c.window, at, at + len)) {
      c.pos = start;
      return -1;
    }
    items.pushRange(c.window, at, at + len);
    return len;
  }

  async value(type: GGUFValueType, field: string, depth: number): Promise<GGUFValue> {
    const width = scalarByteSize(type);
    if (width !== undefined) {
      if (!this.cur.has(width)) await this.cur.fill(width, field);
      const c = this.cur;
      switch (type) {
        case GGUFValueType.UINT8:
          return c.u8();
        case GGUFValueType.INT8:
          return c.i8();
        case GGUFValueType.UINT16:
          return c.u16();
        case GGUFValueType.INT16:
          return c.i16();
        case GGUFValueType.UINT32:
          return c.u32();
        case GGUFValueType.INT32:
          return c.i32();
        case GGUFValueType.FLOAT32:
          return c.f32();
        case GGUFValueType.FLOAT64:
          return c.f64();
        case GGUFValueType.UINT64:
          return c.u64();
        case GGUFValueType.INT64:
          return c.i64();
        case GGUFValueType.BOOL: {
          const at = c.pos;
          const b = c.u8();
          if (b > 1) this.fail(`bool byte is ${b}, not 0 or 1`, at, field);
          return b === 1;
        }
      }
    }
    if (type === GGUFValueType.STRING) return this.string(field);
    return this.array(field, depth + 1);
  }

  async valueType(field: string): Promise<GGUFValueType> {
    const at = this.cur.pos;
    const t = await this.u32(field);
    if (!isValueType(t)) this.fail(`unknown value type ${t}`, at, field);
    return t;
  }

  async array(field: string, depth: number): Promise<GGUFArray> {
    if (depth > MAX_ARRAY_DEPTH) this.fail(`arrays nested deeper than ${MAX_ARRAY_DEPTH} levels`, this.cur.pos, field);
    const itemType = await this.valueType(`${field} item type`);
    const width = scalarByteSize(itemType);
    const minItem = width ?? (itemType === GGUFValueType.STRING ? MIN_STRING_BYTES : MIN_ARRAY_BYTES);
    const n = await this.count(`${field} count`, minItem);
    if (width !== undefined) {
      const at = this.cur.pos;
      const bytes = await this.cur.takeOwned(n * width, field);
      this.charge(HEAP_COST.array + HEAP_COST.typedArray + n * width, field);
      if (itemType === GGUFValueType.BOOL) {
        const bad = bytes.findIndex((b) => b > 1);
        if (bad >= 0) this.fail(`bool byte is ${bytes[bad]}, not 0 or 1`, at + bad, `${field}[${bad}]`);
      }
      return new GGUFArray(itemType, decodeTypedArray(itemType, bytes, n, { owned: true }));
    }
    this.charge(HEAP_COST.array, field);
    // Items are pushed, not preallocated: memory grows with the items actually parsed, never with
    // a declared count.
    if (itemType === GGUFValueType.STRING) {
      // Kept packed (one byte buffer and one offset per string), never as one JS string each.
      const items = new PackedStringsBuilder(this.blockPool);
      for (let i = 0; i < n; i++) {
        let length = this.pushBufferedString(items);
        if (length < 0) {
          const bytes = await this.stringBytes(`${field}[${i}]`);
          items.push(bytes);
          length = bytes.length;
        }
        // the builder's blocks and then the packed copy: twice the bytes and offsets are allocated
        this.charge(2 * (length + 4), field);
      }
      return new GGUFArray(itemType, items.finish());
    }
    const items: GGUFArray[] = [];
    for (let i = 0; i < n; i++) {
      items.push(await this.array(`${field}[${i}]`, depth + 1));
      this.charge(HEAP_COST.slot, field);
    }
    return new GGUFArray(itemType, items);
  }
}

/** Parse and validate a GGUF file's header. Reads only header bytes from `source`. */
export async function readGGUF(source: ByteSource, options: ReadGGUFOptions = {}): Promise<GGUFFile> {
  const p = new HeaderParser(source, options);

  const magic = await p.u32('magic');
  if (magic !== GGUF_MAGIC) {
    const shown = [0, 8, 16, 24]
      .map((s) => (magic >>> s) & 0xff)
      .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`));
    p.fail(`bad magic "${shown.join('')}" (expected "GGUF"; not a GGUF file)`, 0, 'magic');
  }
  const version = await p.u32('version');
  if (version === 1) p.fail('unsupported version 1 (GGUF v1 predates 64-bit counts; re-convert the model)', 4, 'version');
  if (version === 0x02000000 || version === 0x03000000) p.fail('big-endian GGUF files are not supported', 4, 'version');
  if (version !== 2 && version !== 3) p.fail(`unsupported version ${version} (lowbit reads GGUF v2 and v3)`, 4, 'version');

  const tensorCount = await p.count('tensor_count', MIN_TENSOR_INFO_BYTES);
  const kvCount = await p.count('kv_count', MIN_KV_BYTES);
  // Both tables together must fit in what is left of the file.
  const left = source.size - p.pos;
  if (kvCount * MIN_KV_BYTES + tensorCount * MIN_TENSOR_INFO_BYTES > left) {
    p.fail(
      `${kvCount} metadata entries (≥ ${MIN_KV_BYTES} bytes each) and ${tensorCount} tensor infos (≥ ${MIN_TENSOR_INFO_BYTES} bytes each) cannot fit in the ${left} bytes left`,
      16,
      'kv_count',
    );
  }

  const metadata = new Map<string, GGUFMetadataEntry>();
  for (let i = 0; i < kvCount; i++) {
    const offset = p.pos;
    const key = await p.string(`metadata[${i}].key`);
    const entryField = `metadata[${quotedName(key)}]`;
    if (metadata.has(key)) p.fail(`duplicate metadata key ${quotedName(key)}`, offset, entryField);
    const type = await p.valueType(`${entryField} type`);
    const value = await p.value(type, entryField, 0);
    p.charge(HEAP_COST.entry, entryField);
    metadata.set(key, { key, type, value, offset });
  }

  const alignment = checkAlignment(p, metadata.get('general.alignment'));

  const tensors: GGUFTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const infoOffset = p.pos;
    const name = await p.string(`tensor_infos[${i}].name`);
    const field = `tensor ${quotedName(name)}`;
    if (names.has(name)) p.fail('duplicate tensor name', infoOffset, field);
    names.add(name);
    const nDimsAt = p.pos;
    const nDims = await p.u32(`${field} n_dims`);
    if (nDims > MAX_TENSOR_DIMS) p.fail(`n_dims is ${nDims}; at most ${MAX_TENSOR_DIMS} are allowed`, nDimsAt, `${field} n_dims`);
    p.charge(HEAP_COST.tensor + 8 * nDims, field);
    const dims = new Array<number>(nDims); // exact size: a pushed-to [] reserves 17 slots
    let nElements = 1;
    for (let d = 0; d < nDims; d++) {
      const at = p.pos;
      const dimField = `${field} ne[${d}]`;
      const raw = await p.u64(dimField);
      if (raw === 0n || raw >= 1n << 63n) p.fail(`dimension ${BigInt.asIntN(64, raw)} is not a positive size`, at, dimField);
      if (raw > BigInt(Number.MAX_SAFE_INTEGER) || nElements * Number(raw) > Number.MAX_SAFE_INTEGER) {
        p.fail(`element count overflows 2^53 (dimension ${raw})`, at, dimField);
      }
      dims[d] = Number(raw);
      nElements *= Number(raw);
    }
    const typeAt = p.pos;
    const typeId = await p.u32(`${field} type`);
    const layout = quantLayout(typeId);
    if (!layout) {
      throw new UnsupportedTensorTypeError(
        `${source.name}: tensor ${quotedName(name)} has unknown tensor type id ${typeId} (at byte ${typeAt})`,
        typeId,
        name,
      );
    }
    const rowLength = dims[0] ?? 1;
    if (rowLength % layout.blockSize !== 0) {
      p.fail(
        `row length ne[0] = ${rowLength} is not a multiple of ${layout.name}'s block size ${layout.blockSize}`,
        nDimsAt + 4,
        `${field} ne[0]`,
      );
    }
    const offsetAt = p.pos;
    const rawOffset = await p.u64(`${field} offset`);
    if (rawOffset > BigInt(Number.MAX_SAFE_INTEGER)) p.fail(`data offset ${rawOffset} is beyond any file`, offsetAt, `${field} offset`);
    const offset = Number(rawOffset);
    if (offset % alignment !== 0)
      p.fail(`data offset ${offset} is not a multiple of the alignment ${alignment}`, offsetAt, `${field} offset`);
    tensors.push({
      name,
      dims,
      typeId,
      typeName: layout.name,
      layout,
      offset,
      absoluteOffset: 0, // set below once the data offset is known
      nElements,
      byteSize: tensorByteSize(layout, nElements),
      infoOffset,
    });
  }

  const headerSize = p.pos;
  // Files without tensors have no data section (llama.cpp writes no padding after the header).
  const dataOffset = tensors.length ? alignUp(headerSize, alignment) : headerSize;
  for (const t of tensors) t.absoluteOffset = dataOffset + t.offset;

  // Tensors must lie inside the file (checked first: a corrupt size would also look like an overlap).
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  const missingTensors: string[] = [];
  for (const t of byOffset) {
    const end = t.absoluteOffset + t.byteSize;
    if (end > source.size) {
      if (!options.allowTruncatedData) {
        p.fail(
          `data [${t.absoluteOffset}, ${end}) runs past the end of the file (${source.size} bytes): the file is truncated or the offset is corrupt`,
          t.infoOffset,
          `tensor ${quotedName(t.name)} offset`,
        );
      }
      missingTensors.push(t.name);
    }
  }

  // Tensors must not overlap.
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.offset < prev.offset + prev.byteSize) {
      p.fail(
        `data [${cur.offset}, +${cur.byteSize}) overlaps tensor ${quotedName(prev.name)} [${prev.offset}, +${prev.byteSize})`,
        cur.infoOffset,
        `tensor ${quotedName(cur.name)} offset`,
      );
    }
  }
  return new GGUFFile({
    sourceName: source.name,
    fileSize: source.size,
    version,
    alignment,
    metadata,
    tensors,
    headerSize,
    dataOffset,
    missingTensors,
    headerBytesRead: p.bytesRequested,
  });
}

function checkAlignment(p: HeaderParser, entry: GGUFMetadataEntry | undefined): number {
  if (!entry) return DEFAULT_ALIGNMENT;
  const field = 'metadata["general.alignment"]';
  if (!isIntegerType(entry.type)) p.fail(`must be an integer, found ${GGUFValueType[entry.type]}`, entry.offset, field);
  const v = entry.value as number | bigint;
  if (v <= 0 || v > MAX_ALIGNMENT || (Number(v) & (Number(v) - 1)) !== 0) {
    p.fail(`alignment ${v} must be a power of two between 1 and ${MAX_ALIGNMENT}`, entry.offset, field);
  }
  return Number(v);
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** One tensor's bytes (the whole tensor in memory; use for tests and small CPU paths). */
export async function readTensorBytes(source: ByteSource, tensor: GGUFTensorInfo, signal?: AbortSignal): Promise<Uint8Array> {
  checkTensorInSource(source, tensor);
  return source.read(tensor.absoluteOffset, tensor.byteSize, signal);
}

/** A tensor's bytes in chunks of at most `chunkBytes`, for streaming uploads and copies. */
export async function* readTensorChunks(
  source: ByteSource,
  tensor: GGUFTensorInfo,
  chunkBytes = 4 * 1024 * 1024,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  checkTensorInSource(source, tensor);
  for (let done = 0; done < tensor.byteSize; done += chunkBytes) {
    yield await source.read(tensor.absoluteOffset + done, Math.min(chunkBytes, tensor.byteSize - done), signal);
  }
}

function checkTensorInSource(source: ByteSource, tensor: GGUFTensorInfo): void {
  const end = tensor.absoluteOffset + tensor.byteSize;
  if (end > source.size) {
    throw new GGUFFormatError(
      `${source.name}: tensor ${quotedName(tensor.name)} data [${tensor.absoluteOffset}, ${end}) runs past the end of the file (${source.size} bytes)`,
      tensor.absoluteOffset,
      `tensor ${quotedName(tensor.name)}`,
    );
  }
}
