/**
 * The engine's Web Worker entry: serves the protocol in protocol.ts with models from the IndexedDB
 * model store and the GPU engine. This is the only module that names the engine implementation,
 * so swapping it (or serving a fake in tests, see test/ui/fake-worker.ts) touches nothing else.
 */
import { LowbitError, WebGPUUnavailableError } from '../errors.ts';
import { IdbModelStore } from '../storage/idb-store.ts';
import { storeBackend, type OpenEngine } from './worker-backend.ts';
import { probeWebGpu, serveEngine, type MessageEndpoint } from './worker-host.ts';

// TODO(engine): build the GPU engine from the stored model once src/engine/engine.ts lands.
const openEngine: OpenEngine = async (model) => {
  await model.source.close?.();
  throw new LowbitError(`${model.id} is downloaded and stored, but this build has no GPU engine yet (src/engine/engine.ts is missing)`);
};

/** No WebGPU, no point downloading: say so before the first byte. */
async function requireWebGpu(): Promise<void> {
  const probe = await probeWebGpu();
  if (!probe.webgpu) throw new WebGPUUnavailableError(`${probe.reason}; lowbit runs models on the GPU through WebGPU`);
}

serveEngine(self as unknown as MessageEndpoint, storeBackend({ store: new IdbModelStore(), openEngine, precheck: requireWebGpu }));
