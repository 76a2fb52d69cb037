/**
 * The model store, browser-safe part (no node: imports): IndexedDB store, downloader, Blob import,
 * reading stored models, listing and deleting. Node adds fs-store.ts, import-node.ts and
 * sha256-node.ts.
 *
 *   const store = new IdbModelStore();
 *   await downloadModel({ store, url, sha256, onProgress, signal });  // resumable
 *   const source = await openStoredModel(store, name);                // a ByteSource
 *   const weights = await loadGpuWeights(device, source);             // runtime/loader.ts
 */
export {
  DEFAULT_CHUNK_SIZE,
  checkModelName,
  chunkCount,
  chunkLength,
  completeBytes,
  storedBytes,
  defaultModelName,
  deleteAllModels,
  isComplete,
  isPresent,
  listModels,
  type ModelManifest,
  type ModelOrigin,
  type ModelStore,
  type StorageSpace,
  type StoredModelInfo,
} from './store.ts';
export { IdbModelStore, type IdbStoreOptions } from './idb-store.ts';
export { MemoryModelStore } from './memory-store.ts';
export { downloadModel, type DownloadOptions } from './download.ts';
export { importBlob, importModel, type ImportOptions } from './import.ts';
export { ChunkedModelSource, openStoredModel, type StoredModelSource, type StoredSourceOptions } from './model-source.ts';
export { verifyAndMark, verifyStoredChunks, type VerifyOptions, type VerifyResult } from './verify.ts';
export { ensureSpace, isQuotaError } from './quota.ts';
export { RateMeter, type ProgressCallback, type ProgressPhase, type ProgressReport } from '../io/progress.ts';
export { Sha256, createSha256, normalizeSha256, type Sha256Hasher } from './sha256.ts';
export { crc32 } from './crc32.ts';
