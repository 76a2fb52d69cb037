/**
 * The checks a model file must pass before it is kept in the model store: its GGUF header parses,
 * every tensor's data lies inside the file, and lowbit can run every tensor type. A file that fails
 * them could never load, so storing it would only offer a model that fails again.
 */
import type { GGUFFile } from '../gguf/file.ts';
import { readGGUF } from '../gguf/reader.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { UnsupportedTensorTypeError } from '../errors.ts';
import { gpuQuantTypes } from '../quant/table.ts';

const GPU_TYPES = new Set<number>(gpuQuantTypes().map((t) => t.id));

/** Every tensor has a GPU path: checked before anything is uploaded, or stored. */
export function checkTensorTypes(file: GGUFFile): void {
  const bad = file.tensors.filter((t) => !GPU_TYPES.has(t.typeId));
  if (bad.length) {
    const list = bad
      .slice(0, 5)
      .map((t) => `${t.name} (${t.typeName})`)
      .join(', ');
    throw new UnsupportedTensorTypeError(
      `${file.sourceName}: ${bad.length} tensor(s) use types lowbit cannot run on the GPU yet: ${list}${bad.length > 5 ? ', …' : ''}`,
      bad[0]!.typeId,
      bad[0]!.name,
    );
  }
}

/** Throws the GGUFFormatError / UnsupportedTensorTypeError that loading the file would throw. */
export async function checkModelFile(source: ByteSource, signal?: AbortSignal): Promise<void> {
  checkTensorTypes(await readGGUF(source, { signal }));
}
