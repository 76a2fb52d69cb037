/**
 * The F32 twin of a GGUF: every tensor dequantized to F32 on the CPU (the same values the
 * quantized file holds), everything else as it was. Comparing lowbit and llama.cpp on the twin
 * separates lowbit's forward-pass error from llama.cpp's quantization of activations, which its
 * CPU path applies to quantized weights only.
 */
import { existsSync, renameSync, statSync } from 'node:fs';
import { readGGUF } from '../../src/gguf/reader.ts';
import { GGUFValueType } from '../../src/gguf/values.ts';
import { writeGGUFToFile } from '../../src/gguf/write-file.ts';
import type { GGUFMetadataInput } from '../../src/gguf/writer.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { FILE_TYPE_KEY } from '../../src/quant/quantize-model.ts';
import { DEFAULT_CHUNK_VALUES, tensorRowChunks } from '../../src/quant/rows.ts';
import { GGMLType } from '../../src/quant/types.ts';

/** llama.cpp's LLAMA_FTYPE_ALL_F32. */
const FTYPE_ALL_F32 = 0;

/**
 * Writes `quantPath`'s F32 twin to `twinPath` unless a twin newer than the source is there
 * already; returns its path. Streams one bounded chunk at a time.
 */
export async function writeF32Twin(quantPath: string, twinPath: string): Promise<string> {
  if (existsSync(twinPath) && statSync(twinPath).mtimeMs >= statSync(quantPath).mtimeMs) return twinPath;
  const source = await FileByteSource.open(quantPath);
  try {
    const file = await readGGUF(source);
    const metadata: GGUFMetadataInput[] = [...file.metadata.values()].map(({ key, type, value }) =>
      key === FILE_TYPE_KEY ? { key, type: GGUFValueType.UINT32, value: FTYPE_ALL_F32 } : { key, type, value },
    );
    const tensors = file.tensors.map((info) => ({
      name: info.name,
      dims: info.dims,
      type: GGMLType.F32,
      data: async function* () {
        for await (const values of tensorRowChunks(source, info, DEFAULT_CHUNK_VALUES)) {
          yield new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        }
      },
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
