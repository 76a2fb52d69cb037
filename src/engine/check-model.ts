/**
 * The checks a model file must pass before it is kept in the model store: its GGUF header parses,
 * every tensor's data lies inside the file, and lowbit can run every tensor type. A file that fails
 * them could never load, so storing it would only offer a model that fails again.
 */
import { readGGUF } from '../gguf/reader.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { getQuantType } from '../quant/table.ts';

/** Throws the GGUFFormatError / UnsupportedTensorTypeError that loading the file would throw. */
export async function checkModelFile(source: ByteSource, signal?: AbortSignal): Promise<void> {
  const file = await readGGUF(source, { signal });
  for (const tensor of file.tensors) getQuantType(tensor.typeId, tensor.name);
}
