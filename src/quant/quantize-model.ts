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
import { modelShapeFromMetadata, planMixture, type FileType, type MixtureOptions, type PlannedType } from './mixture.ts';
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

/** Metadata as llama-quantize writes it: the input's entries in order, then version and file type. */
export function quantizedMetadata(file: GGUFFile, fileType: FileType): GGUFMetadataInput[] {
  const kept = [...file.metadata.values()]
    .filter((e) => e.key !== QUANTIZATION_VERSION_KEY && e.key !== FILE_TYPE_KEY && !SPLIT_KEYS.has(e.key))
    .map(({ key, type, value }) => ({ key, type, value }));
  return [
    ...kept,
    { key: QUANTIZATION_VERSION_KEY, type: GGUFValueType.UINT32, value: QUANTIZATION_VERSION },
    { key: FILE_TYPE_KEY, type: GGUFValueType.UINT32, value: fileType.ftype },
  ];
}

export interface QuantizeModelOptions extends MixtureOptions {
  readonly fileType: FileType;
  readonly runner: QuantizeRunner;
  /** f32 values per job (default 1 Mi). */
  readonly chunkValues?: number;
  /** Called as input values are done (quantized or copied). */
  readonly onValues?: (count: number) => void;
  readonly signal?: AbortSignal;
}

export interface QuantizedModel {
  readonly plan: readonly PlannedType[];
  readonly spec: GGUFWriteSpec;
  /** Elements over all tensors, for progress. */
  readonly totalValues: number;
}

/** The write spec of `file` (read from `source`) quantized to `opts.fileType`. */
export function quantizeModel(file: GGUFFile, source: ByteSource, opts: QuantizeModelOptions): QuantizedModel {
  const plan = planModelQuantization(file, opts.fileType, opts);
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
        tensorRowChunks(source, info, opts.chunkValues ?? DEFAULT_CHUNK_VALUES, opts.signal),
        p.type,
        opts.runner,
        opts.onValues,
      );
  };
  return {
    plan,
    totalValues: file.tensors.reduce((n, t) => n + t.nElements, 0),
    spec: {
      version: 3,
      metadata: quantizedMetadata(file, opts.fileType),
      alignment: file.alignment,
      tensors: plan.map((p) => ({ name: p.name, dims: p.dims, type: p.type, data: data(p) })),
    },
  };
}
