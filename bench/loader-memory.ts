/**
 * Storage and loader measurements (not a test): prints JSON and a markdown table.
 *
 *   node --expose-gc --no-concurrent-array-buffer-sweeping --import ./src/node/register.js \
 *     bench/loader-memory.ts [--gb 5] [--gpu-mb 256] [--download-mb 512]
 *
 * (--no-concurrent-array-buffer-sweeping frees dead ArrayBuffers inside the GC, so the forced-GC
 * figure is what is really live rather than what a background thread has yet to release.)
 *
 * 1. Loader memory on a model larger than 4 GB, generated on the fly (no disk): peak JS memory
 *    (heap + ArrayBuffers) sampled at every write, both natural and after a forced GC.
 * 2. store → GPU upload throughput on the Node WebGPU device (SwiftShader here): a synthetic model
 *    written to a temporary fs store, loaded with loadGpuWeights.
 * 3. Download throughput from a localhost HTTP server (Range requests, 3 in flight) into the fs store.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requestNodeGpu } from '../src/gpu/device-node.ts';
import { loadGpuWeights, loadWeights } from '../src/runtime/loader.ts';
import { downloadModel } from '../src/storage/download.ts';
import { FsModelStore } from '../src/storage/fs-store.ts';
import { importPath } from '../src/storage/import-node.ts';
import { openStoredModel } from '../src/storage/model-source.ts';
import { ChecksumSink } from '../test/runtime/loader-helpers.ts';
import { SyntheticGGUFSource, writeSyntheticGGUF } from '../test/runtime/synthetic-gguf.ts';

const { values: args } = parseArgs({
  options: {
    gb: { type: 'string', default: '5' },
    'gpu-mb': { type: 'string', default: '256' },
    'download-mb': { type: 'string', default: '512' },
  },
});
const MiB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.warn('run with node --expose-gc for the forced-GC (live memory) figure');
const live = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

async function loaderMemory(totalBytes: number) {
  const source = new SyntheticGGUFSource(totalBytes);
  gc?.();
  const base = live();
  let natural = 0;
  let forced = 0;
  let writes = 0;
  const sink = new ChecksumSink(1 << 30, () => {
    natural = Math.max(natural, live() - base);
    if (gc && ++writes % 16 === 0) {
      gc();
      forced = Math.max(forced, live() - base);
    }
  });
  const t0 = performance.now();
  const weights = await loadWeights(source, { sink });
  const seconds = (performance.now() - t0) / 1000;
  return {
    modelBytes: source.size,
    tensors: weights.size,
    seconds,
    peakNaturalMiB: natural / MiB,
    peakLiveAfterGcMiB: gc ? forced / MiB : null,
    rssMiB: process.memoryUsage().rss / MiB,
  };
}

async function gpuUpload(dir: string, totalBytes: number) {
  const path = join(dir, 'gpu.gguf');
  await writeSyntheticGGUF(path, totalBytes);
  const store = new FsModelStore(join(dir, 'store'));
  await importPath(store, path, { chunkSize: 16 * MiB });
  const ctx = await requestNodeGpu({ warn: null });
  try {
    const source = await openStoredModel(store, 'gpu.gguf');
    const t0 = performance.now();
    const weights = await loadGpuWeights(ctx.device, source);
    await ctx.device.queue.onSubmittedWorkDone();
    const seconds = (performance.now() - t0) / 1000;
    await source.close?.();
    for (const w of weights.values()) for (const p of w.parts) p.buffer.destroy();
    return {
      adapter: ctx.isSoftware ? 'software (SwiftShader)' : 'hardware',
      modelBytes: source.size,
      seconds,
      mbPerSecond: source.size / 1e6 / seconds,
    };
  } finally {
    ctx.device.destroy();
  }
}

async function download(dir: string, totalBytes: number) {
  const path = join(dir, 'served.gguf');
  await writeSyntheticGGUF(path, totalBytes);
  const size = (await stat(path)).size;
  const server = createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const end = m && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    res.writeHead(m ? 206 : 200, {
      'content-length': String(end - start + 1),
      ...(m ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
      etag: '"bench"',
      'accept-ranges': 'bytes',
    });
    createReadStream(path, { start, end }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/served.gguf`;
  const store = new FsModelStore(join(dir, 'dl-store'));
  const t0 = performance.now();
  let verifyStart = 0;
  await downloadModel({ store, url, onProgress: (r) => r.phase === 'verify' && !verifyStart && (verifyStart = performance.now()) });
  const total = (performance.now() - t0) / 1000;
  const dl = ((verifyStart || performance.now()) - t0) / 1000;
  server.close();
  return { modelBytes: size, downloadSeconds: dl, downloadMBps: size / 1e6 / dl, totalSecondsWithVerify: total };
}

const dir = await mkdtemp(join(tmpdir(), 'lowbit-bench-'));
try {
  const results = {
    loaderMemory: await loaderMemory(Number(args.gb) * 1e9),
    gpuUpload: await gpuUpload(dir, Number(args['gpu-mb']) * 1e6),
    download: await download(dir, Number(args['download-mb']) * 1e6),
  };
  console.log(JSON.stringify(results, null, 2));
  const r = results;
  console.log(
    [
      '',
      '| measurement | value |',
      '|---|---|',
      `| loader, ${(r.loaderMemory.modelBytes / 1e9).toFixed(2)} GB synthetic → null sink | ${(r.loaderMemory.modelBytes / 1e6 / r.loaderMemory.seconds).toFixed(0)} MB/s |`,
      `| peak JS memory growth (natural) | ${r.loaderMemory.peakNaturalMiB.toFixed(1)} MiB |`,
      `| peak live JS memory growth (forced GC) | ${r.loaderMemory.peakLiveAfterGcMiB?.toFixed(1) ?? 'n/a'} MiB |`,
      `| fs store → GPU (${r.gpuUpload.adapter}), ${(r.gpuUpload.modelBytes / 1e6).toFixed(0)} MB | ${r.gpuUpload.mbPerSecond.toFixed(0)} MB/s |`,
      `| localhost download, ${(r.download.modelBytes / 1e6).toFixed(0)} MB, 16 MiB chunks × 3 | ${r.download.downloadMBps.toFixed(0)} MB/s (${r.download.totalSecondsWithVerify.toFixed(1)} s with verify) |`,
    ].join('\n'),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
