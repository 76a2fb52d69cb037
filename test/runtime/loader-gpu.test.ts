// The loader with a real Dawn device (SwiftShader here): buffer contents equal the file's bytes,
// also when a tensor is split into several buffers.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBuffer } from '../../src/gpu/buffers.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { readGGUF } from '../../src/gguf/reader.ts';
import { loadGpuWeights } from '../../src/runtime/loader.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { importPath } from '../../src/storage/import-node.ts';
import { ChunkedModelSource, openStoredModel } from '../../src/storage/model-source.ts';
import { localModel } from '../helpers/fixtures.ts';

let ctx: GpuContext;
let tmp: string;
beforeAll(async () => {
  ctx = await requestNodeGpu({ warn: null });
  tmp = await mkdtemp(join(tmpdir(), 'lowbit-loader-gpu-'));
});
afterAll(async () => {
  ctx?.device.destroy();
  await rm(tmp, { recursive: true, force: true });
});

describe('loadGpuWeights on a Dawn device', () => {
  it('uploads a stored fixture: every GPU buffer equals the file bytes of its rows', async () => {
    const name = 'tinystories-bitnet-3M-I2_S.gguf';
    const path = localModel(name);
    const file = new Uint8Array(await readFile(path));
    const store = new FsModelStore(tmp);
    await importPath(store, path, { chunkSize: 64 * 1024 });
    const header = await openStoredModel(store, name);
    const gguf = await readGGUF(header);
    await header.close?.();
    for (const source of [await openStoredModel(store, name), new ChunkedModelSource(store, (await store.getManifest(name))!)]) {
      // 48 KiB parts force the 256-wide matrices (and the embedding) into several buffers.
      const weights = await loadGpuWeights(ctx.device, source, { maxBufferBytes: 48 * 1024, pieceBytes: 10_000 });
      let split = 0;
      for (const t of gguf.tensors) {
        const w = weights.get(t.name)!;
        if (w.parts.length > 1) split++;
        for (const part of w.parts) {
          const from = t.absoluteOffset + part.rowStart * w.rowBytes;
          const len = part.rowCount * w.rowBytes;
          expect(part.buffer.size).toBe(Math.ceil(len / 4) * 4);
          const got = new Uint8Array(await readBuffer(ctx.device, part.buffer, 0, part.buffer.size));
          expect(Buffer.from(got.subarray(0, len)).equals(file.subarray(from, from + len)), `${t.name} part at row ${part.rowStart}`).toBe(
            true,
          );
        }
        if (t.typeId === GGMLType.I2_S)
          expect(w.tensorScale).toBe(new DataView(file.buffer).getFloat32(t.absoluteOffset + t.nElements / 4, true));
        for (const part of w.parts) part.buffer.destroy();
      }
      expect(split).toBeGreaterThan(0);
      await (source as { close?(): Promise<void> }).close?.();
    }
  });
});
