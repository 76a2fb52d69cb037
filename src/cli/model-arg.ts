import { stat } from 'node:fs/promises';
import { ModelNotFoundError } from '../errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { FileByteSource } from '../io/file-byte-source.ts';
import { defaultStoreDir, FsModelStore } from '../storage/fs-store.ts';
import { openStoredModel } from '../storage/model-source.ts';
import { checkModelName, completeBytes, isComplete, isPresent } from '../storage/store.ts';

/** An opened model for a CLI command; call `close()` when done. */
export interface ResolvedModel {
  source: ByteSource;
  /** What to call it in output: the path or the stored model's name. */
  label: string;
  close(): Promise<void>;
}

/**
 * Turn a CLI model argument into bytes: a path to a .gguf file when one exists, else the name of a
 * complete, verified model in the file-system store (`storeDir`, default $LOWBIT_STORE,
 * $XDG_CACHE_HOME/lowbit or ~/.cache/lowbit). Every command that takes a model accepts both.
 */
export async function resolveModelSource(arg: string, storeDir: string = defaultStoreDir()): Promise<ResolvedModel> {
  const info = await stat(arg).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
    throw e;
  });
  if (info) {
    if (!info.isFile()) throw new ModelNotFoundError(`not a file: ${arg}`);
    const source = await FileByteSource.open(arg);
    return { source, label: arg, close: () => source.close() };
  }
  let validName = true;
  try {
    checkModelName(arg);
  } catch {
    validName = false;
  }
  const store = new FsModelStore(storeDir);
  const m = validName ? await store.getManifest(arg) : undefined;
  if (!m) {
    // A path (not a possible model name) keeps the plain file message.
    throw new ModelNotFoundError(
      validName ? `no such file or stored model: ${arg} (store: ${store.location}; see lowbit ls)` : `no such file: ${arg}`,
    );
  }
  if (!isPresent(m)) {
    const state = isComplete(m) ? 'downloaded but not verified' : `incomplete (${completeBytes(m)} of ${m.size} bytes)`;
    throw new ModelNotFoundError(`stored model '${arg}' is ${state}; run lowbit pull again to finish it`);
  }
  const source = await openStoredModel(store, arg);
  return { source, label: arg, close: () => source.close?.() ?? Promise.resolve() };
}
