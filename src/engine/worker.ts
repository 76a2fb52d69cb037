/**
 * The engine's Web Worker entry: serves the protocol in protocol.ts with the real engine and
 * model store. This is the only module that names the engine implementation, so swapping it (or
 * serving a fake in tests, see test/ui/fake-worker.ts) touches nothing else.
 */
import { LowbitError } from '../errors.ts';
import { serveEngine, type EngineBackend, type MessageEndpoint } from './worker-host.ts';

// TODO(engine): replace with the GPU engine and the IndexedDB model store once
// src/engine/engine.ts lands.
const backend: EngineBackend = {
  async load() {
    throw new LowbitError('This build has no GPU engine yet: src/engine/engine.ts is not part of it');
  },
  async listModels() {
    return [];
  },
  async deleteModel() {},
};

serveEngine(self as unknown as MessageEndpoint, backend);
