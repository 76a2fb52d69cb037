/**
 * ModelStore in IndexedDB (browser), through idb-keyval custom stores. idb-keyval's createStore
 * opens one object store per database, so manifests and chunks live in two databases:
 *
 *   `${prefix}-manifests` / manifests : key = model id,       value = ModelManifest
 *   `${prefix}-chunks`    / chunks    : key = [model id, i],  value = Uint8Array (chunk i)
 *
 * Array keys sort by id then index, so a model's chunks form one key range (deleted in one call).
 */
import { createStore, del, get, set, values, type UseStore } from 'idb-keyval';
import { DownloadError } from '../errors.ts';
import { chunkLength, type ModelManifest, type ModelStore, type StorageSpace } from './store.ts';

export interface IdbStoreOptions {
  /** Database name prefix (default 'lowbit'); tests use a fresh one per case. */
  prefix?: string;
  /** navigator.storage, injectable for tests. */
  storage?: Pick<StorageManager, 'estimate' | 'persist'>;
}

export class IdbModelStore implements ModelStore {
  readonly kind = 'indexeddb';
  readonly location: string;
  private readonly manifests: UseStore;
  private readonly chunks: UseStore;
  private readonly storage?: Pick<StorageManager, 'estimate' | 'persist'>;

  constructor(options: IdbStoreOptions = {}) {
    const prefix = options.prefix ?? 'lowbit';
    this.location = `IndexedDB ${prefix}-*`;
    this.manifests = createStore(`${prefix}-manifests`, 'manifests');
    this.chunks = createStore(`${prefix}-chunks`, 'chunks');
    this.storage = options.storage ?? (typeof navigator !== 'undefined' ? navigator.storage : undefined);
  }

  listManifests(): Promise<ModelManifest[]> {
    return values<ModelManifest>(this.manifests);
  }

  getManifest(id: string): Promise<ModelManifest | undefined> {
    return get<ModelManifest>(id, this.manifests);
  }

  putManifest(manifest: ModelManifest): Promise<void> {
    return set(manifest.id, manifest, this.manifests);
  }

  writeChunk(manifest: ModelManifest, index: number, bytes: Uint8Array): Promise<void> {
    // Structured clone copies a view's whole underlying buffer: store an exact-size copy.
    const exact = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    return set([manifest.id, index], exact, this.chunks);
  }

  async readChunk(manifest: ModelManifest, index: number): Promise<Uint8Array | undefined> {
    const v = await get<Uint8Array | ArrayBuffer>([manifest.id, index], this.chunks);
    if (v === undefined) return undefined;
    const bytes = v instanceof Uint8Array ? v : new Uint8Array(v);
    // Defensive: a value longer than the chunk is as wrong as a short one; callers compare lengths.
    return bytes.length > chunkLength(manifest, index) ? bytes.subarray(0, 0) : bytes;
  }

  clearChunks(manifest: ModelManifest): Promise<void> {
    const range = IDBKeyRange.bound([manifest.id], [manifest.id, []]);
    return this.chunks('readwrite', (s) => new Promise<void>((res, rej) => {
      const req = s.delete(range);
      req.onsuccess = () => res();
      req.onerror = () => rej(req.error);
    }));
  }

  async deleteModel(id: string): Promise<void> {
    await this.clearChunks({ id } as ModelManifest);
    await del(id, this.manifests);
  }

  async space(): Promise<StorageSpace> {
    if (!this.storage?.estimate) return {};
    const { quota, usage } = await this.storage.estimate();
    if (quota === undefined) return { usageBytes: usage };
    return { quotaBytes: quota, usageBytes: usage, availableBytes: Math.max(0, quota - (usage ?? 0)) };
  }

  /** Web Locks (tabs and workers of one origin); without the API, no cross-tab exclusion. */
  async lock(id: string): Promise<() => Promise<void>> {
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
    if (!locks) return async () => {};
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const acquired = await new Promise<boolean>((resolve, reject) => {
      locks
        .request(`lowbit-model:${this.location}:${id}`, { ifAvailable: true }, async (lock) => {
          resolve(lock !== null);
          if (lock) await held;
        })
        .catch(reject);
    });
    if (!acquired) throw new DownloadError(`'${id}' is already being downloaded in another tab or worker`);
    return async () => release();
  }

  async persist(): Promise<boolean> {
    try {
      return (await this.storage?.persist?.()) ?? false;
    } catch {
      return false;
    }
  }
}
