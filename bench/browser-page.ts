/**
 * The browser half of `npm run bench:browser`: the end-to-end benchmark of bench/lib/e2e.ts run
 * on Chromium's WebGPU (whose per-call overheads — IPC to the GPU process, validation — differ
 * from Dawn in Node). The driver (bench/browser.ts) calls `window.lowbitBench.run(url, …)` once
 * per model; each result is also left on `window.lowbitBenchResult`.
 */
import { loadEngine } from '../src/engine/engine.ts';
import { requestBrowserGpu, type GpuContext } from '../src/gpu/device.ts';
import { BlobByteSource } from '../src/io/byte-source.ts';
import { BENCH_CONTEXT_SIZE, deviceSummary, measureRun, type RunMeasurement } from './lib/e2e-measure.ts';

export interface BrowserE2eRow extends RunMeasurement {
  model: string;
  fileBytes: number;
  loadMs: number;
  /** Of loadMs: the "Preparing GPU kernels" phase (pipelines built and compiled), the rest is parsing and upload. */
  compileMs: number;
  /** A first one-token reply sent the moment the model is ready: includes kernels still compiling. */
  firstReplyMs: number;
  gpuBytes: { weights: number; kvCache: number; scratch: number };
}

export interface BrowserDevice {
  vendor: string;
  architecture: string;
  description: string;
  software: boolean;
  hasF16: boolean;
  hasSubgroups: boolean;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  userAgent: string;
}

export interface LowbitBench {
  device(): Promise<BrowserDevice>;
  run(modelUrl: string, opts: { promptTokens: number; decodeTokens: number; asyncPipelines?: boolean }): Promise<BrowserE2eRow>;
}

declare global {
  interface Window {
    lowbitBench: LowbitBench;
    lowbitBenchResult?: BrowserE2eRow;
  }
}

// One device for every model, as the Node benchmark does.
let gpu: Promise<GpuContext> | undefined;
const getGpu = () => (gpu ??= requestBrowserGpu());

window.lowbitBench = {
  async device() {
    const ctx = await getGpu();
    return { ...deviceSummary(ctx), userAgent: navigator.userAgent };
  },
  async run(modelUrl, opts) {
    const ctx = await getGpu();
    const res = await fetch(modelUrl);
    if (!res.ok) throw new Error(`GET ${modelUrl}: HTTP ${res.status}`);
    const name = new URL(modelUrl, location.href).pathname.split('/').pop()!;
    // The whole file in memory first, so the timed load is GGUF parsing + upload, not the network.
    const source = new BlobByteSource(await res.blob(), name);
    const t0 = performance.now();
    let compileStart = 0;
    let compileEnd = 0;
    const engine = await loadEngine(source, {
      gpu: ctx,
      contextSize: BENCH_CONTEXT_SIZE,
      asyncPipelines: opts.asyncPipelines,
      onProgress: (p) => {
        if (p.phase !== 'compile') return;
        compileStart ||= performance.now();
        compileEnd = performance.now();
      },
    });
    const loadMs = performance.now() - t0;
    const compileMs = compileEnd - compileStart;
    try {
      const t1 = performance.now();
      for await (const _token of engine.generate('Once upon a time', { maxTokens: 1 })) {
        // only the time to the first token matters
      }
      const firstReplyMs = performance.now() - t1;
      await engine.reset();
      const measured = await measureRun(engine, ctx, opts);
      const row: BrowserE2eRow = {
        model: name,
        ...measured,
        fileBytes: source.size,
        loadMs,
        compileMs,
        firstReplyMs,
        gpuBytes: engine.info.gpuBytes,
      };
      window.lowbitBenchResult = row;
      return row;
    } finally {
      await engine.dispose();
    }
  },
};
