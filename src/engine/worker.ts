/**
 * The engine's Web Worker entry: serves the protocol in protocol.ts with models from the IndexedDB
 * model store, run by the GPU engine (engine.ts). This is the only module that names the engine
 * implementation, so swapping it (or serving a fake in tests, see test/ui/fake-worker.ts) touches
 * nothing else.
 */
import { WebGPUUnavailableError } from '../errors.ts';
import { probeWebGpu, requestBrowserGpu, type GpuContext, type LimitsTier } from '../gpu/device.ts';
import { IdbModelStore } from '../storage/idb-store.ts';
import { checkModelFile } from './check-model.ts';
import { loadEngine } from './engine.ts';
import { storeBackend, type OpenEngine } from './worker-backend.ts';
import { serveEngine, type MessageEndpoint } from './worker-host.ts';

/**
 * One GPU device per worker, shared by successive models; a lost device is replaced on the next
 * load, and so is one created with other limits than the load asks for (the previous engine is
 * disposed before a load opens its model).
 */
let gpu: Promise<GpuContext> | null = null;
let gpuLimits: LimitsTier = 'adapter';

async function getGpu(limits: LimitsTier = 'adapter'): Promise<GpuContext> {
  if (gpu && gpuLimits !== limits) {
    const old = gpu;
    gpu = null;
    await old.then(
      (ctx) => ctx.device.destroy(),
      () => undefined,
    );
  }
  if (!gpu) {
    gpuLimits = limits;
    const pending = requestBrowserGpu({ limits });
    gpu = pending;
    pending.then(
      (ctx) =>
        ctx.lost.then(() => {
          if (gpu === pending) gpu = null;
        }),
      () => {
        if (gpu === pending) gpu = null;
      },
    );
  }
  return gpu;
}

/** The model store; it also keeps autotune's kernel choices for this browser's GPU. */
const store = new IdbModelStore();

const openEngine: OpenEngine = async (model, options) => {
  try {
    return await loadEngine(model.source, { ...options, gpu: await getGpu(options.limits), autotuneCache: store });
  } finally {
    // The engine reads the file only while loading: weights are on the GPU now.
    await model.source.close?.();
  }
};

/** No WebGPU, no point downloading: say so before the first byte. */
async function requireWebGpu(): Promise<void> {
  const probe = await probeWebGpu();
  if (!probe.webgpu) throw new WebGPUUnavailableError(`${probe.reason}; lowbit runs models on the GPU through WebGPU`);
}

serveEngine(self as unknown as MessageEndpoint, storeBackend({ store, openEngine, precheck: requireWebGpu, checkFile: checkModelFile }));
