/**
 * ModelStore on the file system (Node). Layout, one directory per model:
 *
 *   <dir>/<name>/manifest.json   the ModelManifest, replaced atomically (write + rename)
 *   <dir>/<name>/model.gguf      the file's bytes at their own offsets; chunks are written with
 *                                positioned writes, so a partial download is a sparse file
 *   <dir>/.locks/<name>.lock     held while a process writes the model (names never start with
 *                                '.', so locks cannot collide with a model)
 *   <dir>/.records/<sha256>.json a record (readRecord/writeRecord) under the sha256 of its key,
 *                                holding the key too, so that only its own key reads it
 *
 * Any other entry in <dir> (a stray file, a directory without a manifest) is not a model.
 *
 * A chunk is marked done in the manifest only after its bytes are written and synced, so a crash
 * leaves at worst an unmarked chunk, which is fetched again.
 */
import { createHash } from 'node:crypto';
import { constants, type Dirent, type Stats } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, statfs, truncate, unlink, writeFile } from 'node:fs/promises';
import { DownloadError } from '../errors.ts';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { FileByteSource } from '../io/file-byte-source.ts';
import { createNodeSha256 } from './sha256-node.ts';
import type { Sha256Hasher } from './sha256.ts';
import {
  checkModelName,
  checkRecord,
  chunkLength,
  MAX_RECORD_BYTES,
  parseManifest,
  type ModelManifest,
  type ModelStore,
  type RangeReader,
  type StorageSpace,
} from './store.ts';

const MANIFEST = 'manifest.json';
const DATA = 'model.gguf';
/** Lock files' directory: a dot name, which checkModelName refuses, so no model can take it. */
const LOCKS = '.locks';
/** Records' directory (a dot name, like LOCKS). */
const RECORDS = '.records';

/** `$LOWBIT_STORE`, else `$XDG_CACHE_HOME/lowbit`, else `~/.cache/lowbit`. */
export function defaultStoreDir(env: Record<string, string | undefined> = process.env): string {
  if (env.LOWBIT_STORE) return resolve(env.LOWBIT_STORE);
  if (env.XDG_CACHE_HOME) return resolve(env.XDG_CACHE_HOME, 'lowbit');
  return join(homedir(), '.cache', 'lowbit');
}

export class FsModelStore implements ModelStore {
  readonly kind = 'fs';
  readonly location: string;

  constructor(dir: string = defaultStoreDir()) {
    this.location = resolve(dir);
  }

  modelDir(id: string): string {
    return join(this.location, checkModelName(id));
  }

  /** Path of a model's bytes (complete or not). */
  dataPath(id: string): string {
    return join(this.modelDir(id), DATA);
  }

  async listManifests(): Promise<ModelManifest[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.location, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: ModelManifest[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory()) continue; // not a model (stray files, old lock files)
      const name = entry.name;
      try {
        checkModelName(name);
      } catch {
        continue; // not ours (.locks, temporary entries)
      }
      const m = await this.getManifest(name);
      if (m) out.push(m);
    }
    return out;
  }

  async getManifest(id: string): Promise<ModelManifest | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.modelDir(id), MANIFEST), 'utf8');
    } catch (e) {
      // ENOTDIR: an entry of that name that is not a directory is not a model.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw e;
    }
    try {
      return parseManifest(JSON.parse(text), id);
    } catch {
      return undefined; // a damaged manifest counts as no model; pulling again rebuilds it
    }
  }

  async putManifest(manifest: ModelManifest): Promise<void> {
    const dir = this.modelDir(manifest.id);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${MANIFEST}.${process.pid}.tmp`);
    await writeFile(tmp, JSON.stringify(manifest));
    await rename(tmp, join(dir, MANIFEST));
  }

  async writeChunk(manifest: ModelManifest, index: number, bytes: Uint8Array, offset = 0): Promise<void> {
    const dir = this.modelDir(manifest.id);
    await mkdir(dir, { recursive: true });
    // O_CREAT without O_TRUNC: other chunks already written must survive.
    const fh = await open(join(dir, DATA), constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      let done = 0;
      const at = index * manifest.chunkSize + offset;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, at + done);
        done += bytesWritten;
      }
      // The write that ends a chunk is synced (with the chunk's earlier parts: one file) before the
      // manifest marks the chunk done. An earlier part is not: a resume checks a partial chunk's
      // stored prefix against its recorded CRC-32, so a part lost in a crash is fetched again.
      if (offset + bytes.length >= chunkLength(manifest, index)) await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  async readChunk(manifest: ModelManifest, index: number): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(chunkLength(manifest, index));
    const stored = await this.readStored(manifest, index, out);
    if (stored === undefined) return undefined;
    return stored === out.length ? out : out.subarray(0, stored);
  }

  async readChunkInto(manifest: ModelManifest, index: number, into: Uint8Array): Promise<number> {
    return (await this.readStored(manifest, index, into)) ?? 0;
  }

  /** Reads chunk `index` from its start into `into`: the bytes stored, undefined when the model has no data file. */
  private async readStored(manifest: ModelManifest, index: number, into: Uint8Array): Promise<number | undefined> {
    let fh;
    try {
      fh = await open(this.dataPath(manifest.id), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const want = Math.min(chunkLength(manifest, index), into.length);
      let done = 0;
      while (done < want) {
        const { bytesRead } = await fh.read(into, done, want - done, index * manifest.chunkSize + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    } finally {
      await fh.close();
    }
  }

  async clearChunks(manifest: ModelManifest): Promise<void> {
    try {
      await truncate(this.dataPath(manifest.id), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  async deleteModel(id: string): Promise<void> {
    await rm(this.modelDir(id), { recursive: true, force: true });
  }

  async space(): Promise<StorageSpace> {
    // statfs needs an existing path: the store directory or its nearest existing ancestor.
    let p = this.location;
    for (;;) {
      let st: Stats | undefined;
      try {
        st = await stat(p);
      } catch {
        /* climb */
      }
      if (st) break;
      const up = dirname(p);
      if (up === p) return {};
      p = up;
    }
    const fs = await statfs(p);
    return { availableBytes: fs.bavail * fs.bsize, quotaBytes: fs.blocks * fs.bsize };
  }

  /**
   * A lock file `<dir>/.locks/<name>.lock` holding the owner's pid, created exclusively. A lock
   * whose process is gone (a killed pull) is stale and taken over.
   */
  private recordPath(key: string): string {
    return join(this.location, RECORDS, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  async readRecord(key: string): Promise<string | undefined> {
    const path = this.recordPath(key);
    let text: string;
    try {
      if ((await stat(path)).size > MAX_RECORD_BYTES * 4 + 8192) return undefined;
      text = await readFile(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
      throw e;
    }
    try {
      const r = JSON.parse(text) as unknown;
      const { key: k, text: t } = (r ?? {}) as { key?: unknown; text?: unknown };
      return k === key && typeof t === 'string' ? t : undefined;
    } catch {
      return undefined; // damaged: as absent
    }
  }

  async writeRecord(key: string, text: string): Promise<void> {
    checkRecord(key, text);
    const path = this.recordPath(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ key, text }));
    await rename(tmp, path);
  }

  async lock(id: string): Promise<() => Promise<void>> {
    const locks = join(this.location, LOCKS);
    await mkdir(locks, { recursive: true });
    const path = join(locks, `${checkModelName(id)}.lock`);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(path, 'wx');
        await fh.writeFile(String(process.pid));
        await fh.close();
        return () => unlink(path).catch(() => {});
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new DownloadError(
          `'${id}' is being written by another lowbit process (pid ${pid}); wait for it, or delete ${path} if that process is not lowbit`,
        );
      }
      if (pid === process.pid) throw new DownloadError(`'${id}' is already being written by this process`);
      await unlink(path).catch(() => {}); // stale: its owner died
    }
    throw new DownloadError(`could not lock '${id}' in ${this.location}`);
  }

  createHasher(): Sha256Hasher {
    return createNodeSha256();
  }

  async openRangeReader(manifest: ModelManifest): Promise<RangeReader> {
    return FileByteSource.open(this.dataPath(manifest.id));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
