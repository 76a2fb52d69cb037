import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError } from '../../src/errors.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { importModel } from '../../src/storage/import.ts';
import { importPath } from '../../src/storage/import-node.ts';
import { openStoredModel } from '../../src/storage/model-source.ts';
import { completeBytes, isPresent } from '../../src/storage/store.ts';
import { pseudoRandomBytes, sha256Hex } from './helpers.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lowbit-import-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('importing local files', () => {
  it('imports a path chunk by chunk, resumes after an abort, verifies sha256', async () => {
    const data = pseudoRandomBytes(10 * 8192 + 5, 77);
    const path = join(tmp, 'local.gguf');
    await writeFile(path, data);
    const store = new FsModelStore(join(tmp, 'store'));
    const ac = new AbortController();
    await expect(
      importPath(store, path, {
        chunkSize: 8192,
        signal: ac.signal,
        progressIntervalMs: 0,
        onProgress: (r) => r.bytesDone >= 4 * 8192 && ac.abort(),
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    const partial = (await store.getManifest('local.gguf'))!;
    expect(completeBytes(partial)).toBe(4 * 8192);

    const m = await importPath(store, path, { chunkSize: 8192, sha256: sha256Hex(data) });
    expect(isPresent(m)).toBe(true);
    expect(m.origin).toEqual({ kind: 'file', fileName: 'local.gguf' });
    const src = await openStoredModel(store, 'local.gguf');
    expect(sha256Hex(await src.read(0, src.size))).toBe(sha256Hex(data));
    await src.close?.();
  });

  it('restarts a partial import when the file changed (mtime)', async () => {
    const path = join(tmp, 'changing.gguf');
    const v1 = pseudoRandomBytes(6 * 4096, 1);
    await writeFile(path, v1);
    await utimes(path, 1000, 1000);
    const store = new FsModelStore(join(tmp, 'store2'));
    const ac = new AbortController();
    await importPath(store, path, {
      chunkSize: 4096,
      signal: ac.signal,
      progressIntervalMs: 0,
      onProgress: (r) => r.bytesDone >= 8192 && ac.abort(),
    }).catch(() => {});
    const v2 = pseudoRandomBytes(6 * 4096, 2);
    await writeFile(path, v2);
    await utimes(path, 2000, 2000);
    const m = await importPath(store, path, { chunkSize: 4096, sha256: sha256Hex(v2) });
    expect(isPresent(m)).toBe(true);
  });

  it('a wrong sha256 leaves the import unverified', async () => {
    const store = new FsModelStore(join(tmp, 'store3'));
    const err = await importModel({
      store,
      source: new BufferByteSource(pseudoRandomBytes(5000, 3), 'buf.gguf'),
      chunkSize: 4096,
      sha256: '0'.repeat(64),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(isPresent(await store.getManifest('buf.gguf'))).toBe(false);
  });
});
