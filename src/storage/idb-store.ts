/**
 * ModelStore in IndexedDB (browser), through idb-keyval custom stores. idb-keyval's createStore
 * opens one object store per database, so manifests and chunks live in two databases:
 *
 *   `${prefix}-manifests` / manifests : key = model id,       value = ModelManifest
 *   `${prefix}-chunks`    / chunks    : key = [model id, i],  value = Uint8Array (chunk i, or its
 *                                        first part when it was written in parts)
 *                                        key = [model id, i, offset]: a later part of chunk i
 *
 *   `${prefix}-records`   / records   : key = record key,     value = string (readRecord/writeRecord)
 *
 * Array keys sort by id, then index, then offset, so a model's chunks form one key range (deleted
 * in one call) and a chunk's parts follow it in order.
 */
import { createStore, del, get, set, values, type UseStore } from 'idb-keyval';
import { DownloadError } from '../errors.ts';
import {
  checkRecord,
  chunkLength,
  MAX_RECORD_BYTES,
  parseManifest,
  type ModelManifest,
  type ModelStore,
  type StorageSpace,
} from './store.ts';

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
  private readonly records: UseStore;
  private readonly storage?: Pick<StorageManager, 'estimate' | 'persist'>;

  constructor(options: IdbStoreOptions = {}) {
    const prefix = options.prefix ?? 'lowbit';
    this.location = `IndexedDB ${prefix}-*`;
    this.manifests = createStore(`${prefix}-manifests`, 'manifests');
    this.chunks = createStore(`${prefix}-chunks`, 'chunks');
    this.records = createStore(`${prefix}-records`, 'records');
    this.storage = options.storage ?? (typeof navigator !== 'undefined' ? navigator.storage : undefined);
  }

  async listManifests(): Promise<ModelManifest[]> {
    const records = await values<unknown>(this.manifests);
    return records.flatMap((r) => {
      const m = parseManifest(r, (r as { id?: unknown } | null)?.id as string);
      return m ? [m] : [];
    });
  }

  async getManifest(id: string): Promise<ModelManifest | undefined> {
    return parseManifest(await get<unknown>(id, this.manifests), id);
  }

  putManifest(manifest: ModelManifest): Promise<void> {
    return set(manifest.id, manifest, this.manifests);
  }

  async readRecord(key: string): Promise<string | undefined> {
    const v = await get<unknown>(key, this.records);
    return typeof v === 'string' && v.length <= MAX_RECORD_BYTES ? v : undefined;
  }

  async writeRecord(key: string, text: string): Promise<void> {
    checkRecord(key, text);
    return set(key, text, this.records);
  }

  writeChunk(manifest: ModelManifest, index: number, bytes: Uint8Array, offset = 0): Promise<void> {
    // Structured clone copies a view's whole underlying buffer: store an exact-size copy.
    const exact = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    const id = manifest.id;
    // One transaction: parts at or after `offset` are stale once it is rewritten.
    return this.chunks('readwrite', (s) => {
      s.delete(IDBKeyRange.bound([id, index, offset], [id, index, []]));
      s.put(exact, offset === 0 ? [id, index] : [id, index, offset]);
      // Settled by the transaction: quota errors may only show when it commits.
      const tx = s.transaction;
      return new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onabort = tx.onerror = () => reject(tx.error);
      });
    });
  }

  async readChunk(manifest: ModelManifest, index: number): Promise<Uint8Array | undefined> {
    const id = manifest.id;
    const records = await this.chunks('readonly', (s) =>
      Promise.all([
        request<Uint8Array | ArrayBuffer | undefined>(s.get([id, index])),
        request<(Uint8Array | ArrayBuffer)[]>(s.getAll(IDBKeyRange.bound([id, index, 0], [id, index, []]))),
        request<IDBValidKey[]>(s.getAllKeys(IDBKeyRange.bound([id, index, 0], [id, index, []]))),
      ]),
    );
    const [first, parts, keys] = records;
    if (first === undefined) return undefined;
    // The chunk's start, then the parts that continue it without a gap, in offset order.
    const pieces = [asBytes(first)];
    let length = pieces[0]!.length;
    for (let k = 0; k < parts.length; k++) {
      if ((keys[k] as [string, number, number])[2] !== length) break;
      pieces.push(asBytes(parts[k]!));
      length += pieces.at(-1)!.length;
    }
    // Defensive: a value longer than the chunk is as wrong as a short one; callers compare lengths.
    if (length > chunkLength(manifest, index)) return new Uint8Array(0);
    if (pieces.length === 1) return pieces[0];
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const p of pieces) {
      bytes.set(p, at);
      at += p.length;
    }
    return bytes;
  }

  clearChunks(manifest: ModelManifest): Promise<void> {
    const range = IDBKeyRange.bound([manifest.id], [manifest.id, []]);
    return this.chunks(
      'readwrite',
      (s) =>
        new Promise<void>((res, rej) => {
          const req = s.delete(range);
          req.onsuccess = () => res();
          req.onerror = () => rej(req.error);
        }),
    );
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

function request<T>(req: IDBRequest): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    req.onsuccess = () => resolve(req.result as T);
    req.onerror = () => reject(req.error);
  });
}

function asBytes(v: Uint8Array | ArrayBuffer): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v);
}
