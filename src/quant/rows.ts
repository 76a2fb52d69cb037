/**
 * Tensors of a GGUF file as f32 row chunks: read a bounded run of rows from the byte source and
 * decode it with the type's CPU codec, so a tensor of any size passes through in pieces.
 */
import type { GGUFTensorInfo } from '../gguf/file.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { QuantizeError } from '../errors.ts';
import { quotedName } from '../gguf/file.ts';
import { getQuantType } from './table.ts';

/** Values per chunk: 1 Mi f32 = 4 MiB, enough to amortise a worker round trip. */
export const DEFAULT_CHUNK_VALUES = 1 << 20;
/**
 * Longest row read as one piece (64 MiB of f32). Real rows are at most tens of thousands of values;
 * a file claiming more would otherwise make one chunk as large as the whole tensor.
 */
export const MAX_ROW_VALUES = 1 << 24;

/** Rows of `tensor` (ne[0] values each) in chunks of at most `chunkValues` values (at least one row). */
export async function* tensorRowChunks(
  source: ByteSource,
  tensor: GGUFTensorInfo,
  chunkValues = DEFAULT_CHUNK_VALUES,
  signal?: AbortSignal,
): AsyncGenerator<Float32Array> {
  const entry = getQuantType(tensor.typeId, tensor.name);
  if (!entry.dequantize || entry.trailerBytes > 0) {
    throw new QuantizeError(`tensor ${quotedName(tensor.name)}: cannot read ${entry.name} rows as input (use F32, F16, BF16 or Q8_0)`);
  }
  const rowLength = tensor.dims[0] ?? 1;
  if (rowLength > MAX_ROW_VALUES) {
    throw new QuantizeError(
      `tensor ${quotedName(tensor.name)}: rows of ${rowLength} values are longer than lowbit quantizes (${MAX_ROW_VALUES})`,
    );
  }
  const rowBytes = entry.rowBytes(rowLength, tensor.name);
  const nRows = tensor.nElements / rowLength;
  const rowsPerChunk = Math.max(1, Math.floor(chunkValues / rowLength));
  for (let row = 0; row < nRows; row += rowsPerChunk) {
    const count = Math.min(rowsPerChunk, nRows - row);
    const bytes = await source.read(tensor.absoluteOffset + row * rowBytes, count * rowBytes, signal);
    yield entry.dequantize(bytes, count * rowLength);
  }
}
