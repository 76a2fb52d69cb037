/** Importing a file from a path into the store (Node). */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { FileByteSource } from '../io/file-byte-source.ts';
import { importModel, type ImportOptions } from './import.ts';
import type { ModelManifest, ModelStore } from './store.ts';

export async function importPath(
  store: ModelStore,
  path: string,
  options: Omit<ImportOptions, 'store' | 'source'> = {},
): Promise<ModelManifest> {
  const st = await stat(path);
  const source = await FileByteSource.open(path);
  try {
    return await importModel({
      ...options,
      store,
      source,
      fileName: options.fileName ?? basename(path),
      // Size plus mtime identify the version, so an edited file restarts a partial import.
      lastModified: options.lastModified ?? String(Math.trunc(st.mtimeMs)),
    });
  } finally {
    await source.close();
  }
}
