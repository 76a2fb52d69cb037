/** The `--store DIR` option shared by pull, ls, rm (and accepted by commands that take a model). */
import { defaultStoreDir, FsModelStore } from '../storage/fs-store.ts';

export const STORE_OPTION = { store: { type: 'string' } } as const;

export const STORE_HELP = `  --store DIR  model store directory (default: $LOWBIT_STORE, else $XDG_CACHE_HOME/lowbit,
               else ~/.cache/lowbit; now ${defaultStoreDir()})`;

export function openStore(dir: string | undefined): FsModelStore {
  return new FsModelStore(dir ?? defaultStoreDir());
}
