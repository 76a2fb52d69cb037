/**
 * A whole model quantized the way llama-quantize does it: the same metadata (plus
 * `general.quantization_version` and `general.file_type`, moved to the end), the tensors in
 * llama.cpp's order with the mixture's per-tensor types (mixture.ts), and every tensor's bytes
 * streamed through a quantize runner. The result is a GGUF write spec: nothing is read or computed
 * until the writer pulls the data, one bounded chunk at a time.
 */
import type { GGUFFile, GGUFTensorInfo } from '../gguf/file.ts';
import { readTensorChunks } from '../gguf/reader.ts';
import type { GGUFMetadataInput, GGUFWriteSpec } from '../gguf/writer.ts';
import { GGUFValueType } from '../gguf/values.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { QuantizeError } from '../errors.ts';
import { quotedName } from '../gguf/file.ts';
import { importanceWeights, type Imatrix } from './imatrix.ts';
import { modelShapeFromMetadata, planMixture, type FileType, type MixtureOptions, type PlannedType } from './mixture.ts';
import type { JobImportance } from './quantize-job.ts';
import { quantizeRowChunks, type QuantizeRunner } from './quantize-stream.ts';
import { DEFAULT_CHUNK_VALUES, tensorRowChunks } from './rows.ts';
import { quantTypeInfo } from './table.ts';
import { GGMLType, quantLayout } from './types.ts';

/** The quantizer's own metadata keys, rewritten (and moved last) in every output. */
export const QUANTIZATION_VERSION_KEY = 'general.quantization_version';
export const FILE_TYPE_KEY = 'general.file_type';
/** ggml's GGML_QNT_VERSION. */
export const QUANTIZATION_VERSION = 2;
const SPLIT_KEYS = new Set(['split.no', 'split.count', 'split.tensors.count']);
/** What llama-quantize records about the importance matrix it used (quantize.cpp's LLM_KV_QUANTIZE_IMATRIX_*). */
export const IMATRIX_FILE_KEY = 'quantize.imatrix.file';
export const IMATRIX_DATASET_KEY = 'quantize.imatrix.dataset';
export const IMATRIX_ENTRIES_KEY = 'quantize.imatrix.entries_count';
export const IMATRIX_CHUNKS_KEY = 'quantize.imatrix.chunks_count';
/** llama-quantize stores those strings in a 128-byte buffer: at most 127 bytes survive. */
const IMATRIX_STRING_BYTES = 127;

/** Input types a model can be quantized from: floats, and Q8_0 (re-quantized like --allow-requantize). */
const INPUT_TYPES = new Set<number>([GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q8_0]);

function bitsPerWeight(type: number): number {
  const l = quantLayout(type)!;
  return (8 * l.blockBytes) / l.blockSize;
}

function typeName(type: number): string {
  return quantTypeInfo(type)?.name ?? String(type);
}

/** The mixture plan for a parsed file, with every tensor checked: QuantizeError before any work starts. */
export function planModelQuantization(file: GGUFFile, fileType: FileType, opts: MixtureOptions = {}): PlannedType[] {
  const shape = modelShapeFromMetadata((k) => file.get(k));
  const plan = planMixture(
    shape,
    file.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.typeId })),
    fileType,
    opts,
  );
  for (const p of plan) {
    if (!p.requantize) continue;
    const from = typeName(p.inputType);
    const to = typeName(p.type);
    if (quantLayout(p.inputType)?.family !== 'float' && bitsPerWeight(p.inputType) < bitsPerWeight(p.type)) {
      throw new QuantizeError(`tensor ${quotedName(p.name)} is already quantized below the target: ${from} has fewer bits than ${to}`);
    }
    if (!INPUT_TYPES.has(p.inputType)) {
      throw new QuantizeError(`tensor ${quotedName(p.name)} is ${from}; lowbit quantizes from F32, F16, BF16 or Q8_0 only`);
    }
    const target = quantTypeInfo(p.type);
    if (!target || (!target.quantize && p.type !== GGMLType.I2_S)) {
      throw new QuantizeError(
        `tensor ${quotedName(p.name)} needs ${to} (${fileType.name}'s rule for its shape), which lowbit cannot write yet`,
      );
    }
    const rowLength = p.dims[0] ?? 1;
    if (rowLength % target.rowMultiple !== 0) {
      throw new QuantizeError(
        `tensor ${quotedName(p.name)}: rows of ${rowLength} values do not fit ${to} (multiples of ${target.rowMultiple})`,
      );
    }
  }
  return plan;
}

/** The importance matrix a quantization uses, and the file name to record for it. */
export interface ImatrixInput {
  readonly matrix: Imatrix;
  /** As the user gave it (llama-quantize records its --imatrix argument verbatim). */
  readonly fileName: string;
}

/** `s` cut to at most `maxBytes` UTF-8 bytes, at a character boundary. */
function utf8Prefix(s: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(s);
  if (bytes.length <= maxBytes) return s;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/** The keys llama-quantize adds after the file type when given an importance matrix. */
function imatrixMetadata(imatrix: ImatrixInput): GGUFMetadataInput[] {
  const m = imatrix.matrix;
  const out: GGUFMetadataInput[] = [
    { key: IMATRIX_FILE_KEY, type: GGUFValueType.STRING, value: utf8Prefix(imatrix.fileName, IMATRIX_STRING_BYTES) },
  ];
  if (m.datasets.length > 0) {
    out.push({ key: IMATRIX_DATASET_KEY, type: GGUFValueType.STRING, value: utf8Prefix(m.datasets[0]!, IMATRIX_STRING_BYTES) });
  }
  out.push({ key: IMATRIX_ENTRIES_KEY, type: GGUFValueType.UINT32, value: m.entries.size });
  if (m.chunkCount > 0) out.push({ key: IMATRIX_CHUNKS_KEY, type: GGUFValueType.UINT32, value: m.chunkCount });
  return out;
}

/**
 * Metadata as llama-quantize writes it: the input's entries in order, then version and file type,
 * then (with an importance matrix) what it records about that matrix. A key it sets again moves last.
 */
export function quantizedMetadata(file: GGUFFile, fileType: FileType, imatrix?: ImatrixInput): GGUFMetadataInput[] {
  const added = imatrix ? imatrixMetadata(imatrix) : [];
  const replaced = new Set([QUANTIZATION_VERSION_KEY, FILE_TYPE_KEY, ...SPLIT_KEYS, ...added.map((e) => e.key)]);
  const kept = [...file.metadata.values()].filter((e) => !replaced.has(e.key)).map(({ key, type, value }) => ({ key, type, value }));
  return [
    ...kept,
    { key: QUANTIZATION_VERSION_KEY, type: GGUFValueType.UINT32, value: QUANTIZATION_VERSION },
    { key: FILE_TYPE_KEY, type: GGUFValueType.UINT32, value: fileType.ftype },
    ...added,
  ];
}

/**
 * The importance weights llama-quantize would use for tensor `p`: the matrix's entry of that name
 * when its size is one weight per column per matrix (expert). None when the matrix has no entry;
 * a size mismatch is an error (token_embd excepted, quantized without), as in llama-quantize.
 */
function tensorImportance(imatrix: Imatrix | undefined, p: PlannedType): Omit<JobImportance, 'firstRow'> | undefined {
  if (!imatrix || quantTypeInfo(p.type)?.quantizeWeighted === undefined) return undefined;
  const weights = importanceWeights(imatrix, p.name);
  if (!weights) return undefined;
  const rowLength = p.dims[0] ?? 1;
  const nMatrices = p.dims[2] ?? 1;
  if (weights.length !== rowLength * nMatrices) {
    if (p.name === 'token_embd.weight') return undefined;
    throw new QuantizeError(
      `importance matrix has ${weights.length} weights for tensor ${quotedName(p.name)}, which needs ${rowLength * nMatrices} (${rowLength} columns × ${nMatrices})`,
    );
  }
  return { weights, rowLength, rowsPerMatrix: p.dims[1] ?? 1 };
}

/** Throws unless every weight of the matrix is finite (llama-quantize refuses such a file too). */
function assertFiniteImatrix(m: Imatrix): void {
  for (const name of m.entries.keys()) {
    const w = importanceWeights(m, name)!;
    for (let i = 0; i < w.length; i++) {
      if (!Number.isFinite(w[i])) throw new QuantizeError(`importance matrix: ${quotedName(name)} has a non-finite weight (${w[i]})`);
    }
  }
}

export interface QuantizeModelOptions extends MixtureOptions {
  readonly fileType: FileType;
  readonly runner: QuantizeRunner;
  /** f32 values per job (default 1 Mi). */
  readonly chunkValues?: number;
  /** Called as input values are done (quantized or copied). */
  readonly onValues?: (count: number) => void;
  readonly signal?: AbortSignal;
  /** Quantize with importance weights, as llama-quantize --imatrix does. */
  readonly imatrix?: ImatrixInput;
}

export interface QuantizedModel {
  readonly plan: readonly PlannedType[];
  readonly spec: GGUFWriteSpec;
  /** Elements over all tensors, for progress. */
  readonly totalValues: number;
}

/**
 * Values per job for `info`: at most `chunkValues`, and few enough (whole rows) that the tensor
 * makes a job for every worker. Tensors are written one after another, so a tensor of one job
 * would keep the other workers idle — every tensor of a small model would run on one core.
 */
export function jobValues(info: GGUFTensorInfo, chunkValues: number, parallelism: number): number {
  const rowLength = info.dims[0] ?? 1;
  const rowsPerWorker = Math.ceil(info.nElements / rowLength / Math.max(1, parallelism));
  return Math.min(chunkValues, Math.max(1, rowsPerWorker) * rowLength);
}

/** The write spec of `file` (read from `source`) quantized to `opts.fileType`. */
export function quantizeModel(file: GGUFFile, source: ByteSource, opts: QuantizeModelOptions): QuantizedModel {
  const imatrix = opts.imatrix?.matrix;
  if (imatrix) assertFiniteImatrix(imatrix);
  const plan = planModelQuantization(file, opts.fileType, imatrix ? { ...opts, hasImatrix: true } : opts);
  const importance = new Map(plan.map((p) => [p.name, p.requantize ? tensorImportance(imatrix, p) : undefined]));
  const data = (p: PlannedType) => {
    const info: GGUFTensorInfo = file.tensor(p.name)!;
    if (!p.requantize) {
      return async function* copy() {
        for await (const chunk of readTensorChunks(source, info, undefined, opts.signal)) yield chunk;
        opts.onValues?.(info.nElements);
      };
    }
    return () =>
      quantizeRowChunks(
        tensorRowChunks(source, info, jobValues(info, opts.chunkValues ?? DEFAULT_CHUNK_VALUES, opts.runner.parallelism), opts.signal),
        p.type,
        opts.runner,
        opts.onValues,
        importance.get(p.name),
      );
  };
  return {
    plan,
    totalValues: file.tensors.reduce((n, t) => n + t.nElements, 0),
    spec: {
      version: 3,
      metadata: quantizedMetadata(file, opts.fileType, opts.imatrix),
      alignment: file.alignment,
      tensors: plan.map((p) => ({ name: p.name, dims: p.dims, type: p.type, data: data(p) })),
    },
  };
}
