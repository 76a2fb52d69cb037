// Test page script: the browser half of the model store (IndexedDB store, downloader, stored-model
// reader) and the GPU weight loader, exposed to Playwright's page.evaluate() as window.lowbitStore.
import * as errors from '../../src/errors.ts';
import { readGGUF } from '../../src/gguf/reader.ts';
import { loadGpuWeights } from '../../src/runtime/loader.ts';
import { deleteAllModels, downloadModel, IdbModelStore, listModels, openStoredModel } from '../../src/storage/index.ts';

const lowbitStore = { IdbModelStore, downloadModel, openStoredModel, listModels, deleteAllModels, loadGpuWeights, readGGUF, errors };

declare global {
  interface Window {
    lowbitStore: typeof lowbitStore;
  }
}

window.lowbitStore = lowbitStore;
document.documentElement.dataset.ready = 'true';
