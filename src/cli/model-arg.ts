import { stat } from 'node:fs/promises';
import { ModelNotFoundError } from '../errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { FileByteSource } from '../io/file-byte-source.ts';

/** An opened model for a CLI command; call `close()` when done. */
export interface ResolvedModel {
  source: ByteSource;
  /** What to call it in output: the path or the stored model's name. */
  label: string;
  close(): Promise<void>;
}

/**
 * Turn a CLI model argument into bytes. Today: a path to a .gguf file. Hook for the model store:
 * when the argument is not an existing file, look it up as a stored model name here (before
 * raising ModelNotFoundError), so every command that takes a model accepts both.
 */
export async function resolveModelSource(arg: string): Promise<ResolvedModel> {
  const info = await stat(arg).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
    throw e;
  });
  if (!info) throw new ModelNotFoundError(`no such file: ${arg}`);
  if (!info.isFile()) throw new ModelNotFoundError(`not a file: ${arg}`);
  const source = await FileByteSource.open(arg);
  return { source, label: arg, close: () => source.close() };
}
