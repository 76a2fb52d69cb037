/**
 * Twins of a GGUF for parity runs, written by streaming one bounded chunk at a time:
 *
 * - the F32 twin: every tensor dequantized to F32 on the CPU (the same values the quantized file
 *   holds), everything else as it was. Comparing lowbit and llama.cpp on the twin separates
 *   lowbit's forward-pass error from llama.cpp's quantization of activations, which its CPU path
 *   applies to quantized weights only;
 * - the architecture twin: the same tensors byte for byte under another architecture name, for a
 *   file whose architecture llama.cpp does not load (BitNet 2B4T's `bitnet-b1.58`) but whose
 *   tensors a related one reads (`bitnet`, the same blocks with a SiLU-gated feed-forward).
 */
import { existsSync, renameSync, statSync } from 'node:fs';
import type { GGUFMetadataEntry, GGUFTensorInfo } from '../../src/gguf/file.ts';
import { readGGUF, readTensorChunks } from '../../src/gguf/reader.ts';
import { GGUFValueType } from '../../src/gguf/values.ts';
import { writeGGUFToFile } from '../../src/gguf/write-file.ts';
import type { GGUFMetadataInput } from '../../src/gguf/writer.ts';
import type { ByteSource } from '../../src/io/byte-source.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { FILE_TYPE_KEY } from '../../src/quant/quantize-model.ts';
import { DEFAULT_CHUNK_VALUES, tensorRowChunks } from '../../src/quant/rows.ts';
import { GGMLType } from '../../src/quant/types.ts';

/** llama.cpp's LLAMA_FTYPE_ALL_F32. */
const FTYPE_ALL_F32 = 0;

interface TwinRecipe {
  metadata(entry: GGUFMetadataEntry): GGUFMetadataInput;
  type(info: GGUFTensorInfo): GGMLType;
  data(source: ByteSource, info: GGUFTensorInfo): AsyncIterable<Uint8Array>;
}

/**
 * Writes the twin of `sourcePath` that `recipe` describes to `twinPath` unless a twin newer than
 * the source is there already; returns its path.
 */
async function writeTwin(sourcePath: string, twinPath: string, recipe: TwinRecipe): Promise<string> {
  if (existsSync(twinPath) && statSync(twinPath).mtimeMs >= statSync(sourcePath).mtimeMs) return twinPath;
  const source = await FileByteSource.open(sourcePath);
  try {
    const file = await readGGUF(source);
    const metadata = [...file.metadata.values()].map((entry) => recipe.metadata(entry));
    const tensors = file.tensors.map((info) => ({
      name: info.name,
      dims: info.dims,
      type: recipe.type(info),
      data: () => recipe.data(source, info),
    }));
    // Written aside and renamed, so an interrupted run never leaves a truncated twin that looks current.
    const partPath = `${twinPath}.${process.pid}.part`;
    await writeGGUFToFile(partPath, { version: 3, metadata, alignment: file.alignment, tensors });
    renameSync(partPath, twinPath);
    return twinPath;
  } finally {
    await source.close();
  }
}

/** Writes `quantPath`'s F32 twin to `twinPath` (kept when current); returns its path. */
export function writeF32Twin(quantPath: string, twinPath: string): Promise<string> {
  return writeTwin(quantPath, twinPath, {
    metadata: ({ key, type, value }) =>
      key === FILE_TYPE_KEY ? { key, type: GGUFValueType.UINT32, value: FTYPE_ALL_F32 } : { key, type, value },
    type: () => GGMLType.F32,
    data: async function* (source, info) {
      for await (const values of tensorRowChunks(source, info, DEFAULT_CHUNK_VALUES)) {
        yield new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      }
    },
  });
}

/**
 * Writes `path`'s tensors and metadata under the architecture `architecture` to `twinPath` (kept
 * when current): `general.architecture` and every `<old architecture>.` key are renamed.
 */
export async function writeArchitectureTwin(path: string, twinPath: string, architecture: string): Promise<string> {
  const source = await FileByteSource.open(path);
  const from = await readGGUF(source)
    .then((f) => String(f.get('general.architecture')))
    .finally(() => source.close());
  return writeTwin(path, twinPath, {
    metadata: ({ key, type, value }) => {
      if (key === 'general.architecture') return { key, type, value: architecture };
      return { key: key.startsWith(`${from}.`) ? `${architecture}.${key.slice(from.length + 1)}` : key, type, value };
    },
    type: (info) => info.typeId,
    data: (source, info) => readTensorChunks(source, info),
  });
}
