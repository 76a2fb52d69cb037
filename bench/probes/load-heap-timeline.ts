/**
 * Where the "peak JS heap in load" of `npm run bench -- --scale` happens: loads each model from a
 * file-system store as bench/lib/scale.ts does, sampling heapUsed + arrayBuffers every 5 ms above
 * a settled baseline (no collection forced during the load), and
 * prints the peak with the load phase it fell in (header/tokenizer before the first progress
 * report, then the loader's phases) and the highest sample of each phase, split into JS heap and
 * ArrayBuffer bytes.
 *
 *   node --import ./src/node/register.js bench/probes/load-heap-timeline.ts /path/model.gguf …
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEngine } from '../../src/engine/engine.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { importPath } from '../../src/storage/import-node.ts';
import { openStoredModel } from '../../src/storage/model-source.ts';
import { DEFAULT_CHUNK_SIZE } from '../../src/storage/store.ts';
import { loadWebTokenizers } from '../../src/tokenizer/web-tokenizers.ts';
import { settleGc } from '../../test/helpers/live-memory.ts';
import { benchEngineOptions } from '../lib/e2e.ts';

const usage = () => {
  const m = process.memoryUsage();
  return { heap: m.heapUsed, arrayBuffers: m.arrayBuffers };
};
const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);

const gpu = await requestNodeGpu({ warn: null });
for (const path of process.argv.slice(2)) {
  const dir = await mkdtemp(join(tmpdir(), 'lowbit-load-heap-'));
  try {
    const store = new FsModelStore(dir);
    const manifest = await importPath(store, path, { chunkSize: DEFAULT_CHUNK_SIZE });
    const source = await openStoredModel(store, manifest.id);
    let phase = 'header+tokenizer';
    /** Per phase: the highest sample of heap + ArrayBuffers, and its two parts at that sample. */
    const phasePeak = new Map<string, { total: number; heap: number; arrayBuffers: number }>();
    await loadWebTokenizers(); // once per process, not per model (as in the bench)
    await settleGc(); // the import's garbage must not sit in the baseline (as in the bench)
    const before = usage();
    const sample = () => {
      const now = usage();
      const heap = now.heap - before.heap;
      const arrayBuffers = now.arrayBuffers - before.arrayBuffers;
      if (heap + arrayBuffers > (phasePeak.get(phase)?.total ?? -Infinity))
        phasePeak.set(phase, { total: heap + arrayBuffers, heap, arrayBuffers });
    };
    const sampler = setInterval(sample, 5);
    const t0 = performance.now();
    const engine = await loadEngine(source, {
      ...benchEngineOptions(gpu, {}),
      onProgress: (p) => {
        sample();
        phase = p.phase;
      },
    }).finally(() => {
      clearInterval(sampler);
      return source.close?.();
    });
    sample();
    const ms = performance.now() - t0;
    await engine.dispose();
    const phases = Object.fromEntries(
      [...phasePeak].map(([k, v]) => [k, `${mib(v.total)} MiB (heap ${mib(v.heap)}, ArrayBuffers ${mib(v.arrayBuffers)})`]),
    );
    const peak = Math.max(...[...phasePeak.values()].map((v) => v.total));
    console.log(
      JSON.stringify({
        model: manifest.name,
        peakMiB: mib(peak),
        chunks: (peak / DEFAULT_CHUNK_SIZE).toFixed(2),
        phases,
        loadMs: Math.round(ms),
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
process.exit(0);
