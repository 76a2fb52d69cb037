import { GGUFFormatError, ModelFormatError } from '../errors.ts';
import type { QuantLayout } from '../quant/types.ts';
import { GGUFArray, GGUFValueType, valueTypeName, type GGUFValue } from './values.ts';

/** Longest key or tensor name quoted whole in an error message. */
const MAX_QUOTED_NAME = 120;

/**
 * A key or tensor name as error messages show it: clipped when long, since a name can be as long
 * as the header (megabytes) and messages end up on one terminal line or in a page.
 */
export function quotedName(name: string): string {
  return name.length <= MAX_QUOTED_NAME ? `"${name}"` : `"${name.slice(0, MAX_QUOTED_NAME - 20)}..." (${name.length} characters)`;
}

/** One metadata entry with its declared type (kept so the writer reproduces it exactly). */
export interface GGUFMetadataEntry {
  readonly key: string;
  readonly type: GGUFValueType;
  readonly value: GGUFValue;
  /** File offset of the entry (its key's length field). */
  readonly offset: number;
}

export interface GGUFTensorInfo {
  readonly name: string;
  /** Dimensions in ggml order: ne[0] is the row length (contiguous), ne[1] the row count, … */
  readonly dims: readonly number[];
  readonly typeId: number;
  /** `F32`, `Q4_K`, `I2_S`, … */
  readonly typeName: string;
  readonly layout: QuantLayout;
  /** Offset relative to the start of the data section, as stored in the file. */
  readonly offset: number;
  /** Offset from the start of the file (dataOffset + offset). */
  absoluteOffset: number;
  readonly nElements: number;
  readonly byteSize: number;
  /** File offset of this tensor's info record, for error messages. */
  readonly infoOffset: number;
}

export interface GGUFFileInit {
  sourceName: string;
  fileSize: number;
  version: number;
  alignment: number;
  metadata: Map<string, GGUFMetadataEntry>;
  tensors: GGUFTensorInfo[];
  headerSize: number;
  dataOffset: number;
  missingTensors: string[];
  headerBytesRead: number;
}

/** A parsed GGUF header: metadata, tensor table and where the data lives. */
export class GGUFFile {
  readonly sourceName: string;
  readonly fileSize: number;
  readonly version: number;
  readonly alignment: number;
  /** Metadata in file order. */
  readonly metadata: ReadonlyMap<string, GGUFMetadataEntry>;
  /** Tensor infos in file order. */
  readonly tensors: readonly GGUFTensorInfo[];
  /** Bytes of magic + counts + metadata + tensor infos (before the alignment padding). */
  readonly headerSize: number;
  /** File offset of the data section (= headerSize when there are no tensors). */
  readonly dataOffset: number;
  /** Only with `allowTruncatedData`: tensors whose data runs past the end of the file. */
  readonly missingTensors: readonly string[];
  /** Bytes the reader requested from the source to parse the header. */
  readonly headerBytesRead: number;
  private readonly byName: Map<string, GGUFTensorInfo>;

  constructor(init: GGUFFileInit) {
    this.sourceName = init.sourceName;
    this.fileSize = init.fileSize;
    this.version = init.version;
    this.alignment = init.alignment;
    this.metadata = init.metadata;
    this.tensors = init.tensors;
    this.headerSize = init.headerSize;
    this.dataOffset = init.dataOffset;
    this.missingTensors = init.missingTensors;
    this.headerBytesRead = init.headerBytesRead;
    this.byName = new Map(init.tensors.map((t) => [t.name, t]));
  }

  /** True when the data area is cut short (only possible with `allowTruncatedData`). */
  get truncated(): boolean {
    return this.missingTensors.length > 0;
  }

  /** `general.architecture` (e.g. `llama`, `bitnet-b1.58`), or undefined when absent. */
  get architecture(): string | undefined {
    return this.getString('general.architecture');
  }

  /** Sum of all tensors' byte sizes. */
  get tensorBytes(): number {
    return this.tensors.reduce((s, t) => s + t.byteSize, 0);
  }

  tensor(name: string): GGUFTensorInfo | undefined {
    return this.byName.get(name);
  }

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  get(key: string): GGUFValue | undefined {
    return this.metadata.get(key)?.value;
  }

  /** Value of `<architecture>.<suffix>` (e.g. `context_length`), the usual per-architecture keys. */
  archKey(suffix: string): string {
    return `${this.architecture ?? 'general'}.${suffix}`;
  }

  getString(key: string): string | undefined {
    const e = this.metadata.get(key);
    if (!e) return undefined;
    if (typeof e.value !== 'string') this.wrongType(e, 'a string');
    return e.value;
  }

  /** Any numeric scalar as a number; 64-bit values must be exactly representable. */
  getNumber(key: string): number | undefined {
    const e = this.metadata.get(key);
    if (!e) return undefined;
    if (typeof e.value === 'number') return e.value;
    if (typeof e.value === 'bigint') {
      if (e.value > BigInt(Number.MAX_SAFE_INTEGER) || e.value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new GGUFFormatError(
          `${this.sourceName}: metadata ${quotedName(key)} = ${e.value} does not fit a JS number exactly`,
          e.offset,
          key,
        );
      }
      return Number(e.value);
    }
    return this.wrongType(e, 'a number');
  }

  getBool(key: string): boolean | undefined {
    const e = this.metadata.get(key);
    if (!e) return undefined;
    if (typeof e.value !== 'boolean') this.wrongType(e, 'a bool');
    return e.value;
  }

  getArray(key: string): GGUFArray | undefined {
    const e = this.metadata.get(key);
    if (!e) return undefined;
    if (!(e.value instanceof GGUFArray)) this.wrongType(e, 'an array');
    return e.value;
  }

  getStringArray(key: string): readonly string[] | undefined {
    const a = this.getArray(key);
    if (!a) return undefined;
    if (a.itemType !== GGUFValueType.STRING) this.wrongType(this.metadata.get(key)!, 'an array of strings');
    return a.items as string[];
  }

  /** Like getString but a missing key is a ModelFormatError naming it. */
  requireString(key: string): string {
    return this.getString(key) ?? this.missing(key);
  }

  requireNumber(key: string): number {
    return this.getNumber(key) ?? this.missing(key);
  }

  private missing(key: string): never {
    throw new ModelFormatError(`${this.sourceName}: required metadata key "${key}" is missing`);
  }

  private wrongType(e: GGUFMetadataEntry, expected: string): never {
    const found = e.type === GGUFValueType.ARRAY ? `ARRAY of ${valueTypeName((e.value as GGUFArray).itemType)}` : valueTypeName(e.type);
    throw new GGUFFormatError(
      `${this.sourceName}: metadata ${quotedName(e.key)} at byte ${e.offset} is ${found}, expected ${expected}`,
      e.offset,
      e.key,
    );
  }
}
