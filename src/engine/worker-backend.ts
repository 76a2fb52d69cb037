/**
 * The engine worker's backend over the model store: every model runs from the store. A URL is
 * downloaded into it first (resumable: a cut download continues from its last complete chunk), a
 * File is imported into it (so it is there offline next time), a stored id is used as is. Then the
 * stored bytes are handed to the engine through `openEngine`, the one hook to the GPU engine.
 */
import { ModelNotFoundError, OfflineError } from '../errors.ts';
import { BlobByteSource, type ByteSource } from '../io/byte-source.ts';
import { downloadModel } from '../storage/download.ts';
import { importBlob } from '../storage/import.ts';
import { openStoredModel } from '../storage/model-source.ts';
import type { ProgressReport } from '../io/progress.ts';
import { isPresent, listModels, type ModelManifest, type ModelStore } from '../storage/store.ts';
import { toLoadProgress } from './load-progress.ts';
import type { CachedModel, LlmEngine, LoadOptions, ModelSource } from './types.ts';
import type { EngineBackend } from './worker-host.ts';

/** A stored, verified model ready to be read. */
export interface StoredModel {
  id: string;
  manifest: ModelManifest;
  /** Reads the model's bytes from the store; the engine closes it when done with it. */
  source: ByteSource & { close?(): Promise<void> };
}

/** Builds an engine from a stored model (reports 'upload'/'compile' progress itself). */
export type OpenEngine = (model: StoredModel, options: LoadOptions) => Promise<LlmEngine>;

export interface StoreBackendOptions {
  store: ModelStore;
  openEngine: OpenEngine;
  /** Injected fetch (tests); default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Chunk size for new downloads (default: the store's 16 MiB). */
  chunkSize?: number;
  /**
   * Runs before anything is downloaded and throws when the model could not run anyway (no
   * WebGPU): better to say so before fetching a gigabyte.
   */
  precheck?: () => Promise<void>;
  /**
   * Checks a local file before it is imported (see check-model.ts), so that a file that cannot
   * load is never stored nor listed as a model; it throws the error loading would throw.
   */
  checkFile?: (source: ByteSource, signal?: AbortSignal) => Promise<void>;
}

/** Errors that say the stored bytes can never load with this version of lowbit. */
const UNLOADABLE = new Set(['GGUFFormatError', 'ModelFormatError', 'UnsupportedTensorTypeError']);

export function storeBackend(options: StoreBackendOptions): EngineBackend {
  const { store, openEngine } = options;

  /** Makes sure the model is present in the store; returns its id. */
  async function ensureStored(source: ModelSource, load: LoadOptions): Promise<string> {
    const onProgress = load.onProgress ? (r: ProgressReport) => load.onProgress!(toLoadProgress(r)) : undefined;
    switch (source.kind) {
      case 'url': {
        // Offline, a download could only fail, after every retry: say so at once. A model in
        // the store loads without the network (and one stored half resumes once online).
        if (globalThis.navigator?.onLine === false && !(await storedComplete(source.url))) {
          throw new OfflineError(`You're offline — this model isn't downloaded yet (${source.url})`);
        }
        const m = await downloadModel({
          store,
          url: source.url,
          name: source.name,
          sha256: source.sha256,
          signal: load.signal,
          onProgress,
          fetch: options.fetch,
          chunkSize: options.chunkSize,
        });
        return m.id;
      }
      case 'file': {
        await options.checkFile?.(new BlobByteSource(source.file, source.name), load.signal);
        const m = await importBlob(store, source.file, {
          fileName: source.name,
          signal: load.signal,
          onProgress,
          chunkSize: options.chunkSize,
        });
        return m.id;
      }
      case 'stored': {
        const m = await store.getManifest(source.id);
        if (!m) throw new ModelNotFoundError(`no model '${source.id}' in the ${store.kind} store at ${store.location}`);
        if (isPresent(m)) return m.id;
        // A partial download resumes from where it stopped.
        if (m.origin.kind === 'url') return ensureStored({ kind: 'url', url: m.origin.url, name: m.name, sha256: m.sha256 }, load);
        throw new ModelNotFoundError(`model '${m.id}' was only partly imported from ${m.origin.fileName}: open the file again`);
      }
    }
  }

  async function storedComplete(url: string): Promise<boolean> {
    return (await listModels(store)).some((m) => m.present && m.origin.kind === 'url' && m.origin.url === url);
  }

  return {
    async load(source, load) {
      await options.precheck?.();
      const id = await ensureStored(source, load);
      load.signal?.throwIfAborted();
      const manifest = (await store.getManifest(id))!;
      const bytes = await openStoredModel(store, id);
      try {
        return await openEngine({ id, manifest, source: bytes }, load);
      } catch (e) {
        await bytes.close?.();
        // Listed, it would be offered with a Load button that fails the same way every time. Only
        // local files go (one stored before checkFile existed, or without it): a download is kept,
        // since fetching it again costs the network and a newer lowbit may run it.
        if (manifest.origin.kind === 'file' && UNLOADABLE.has((e as { name?: string })?.name ?? ''))
          await store.deleteModel(id).catch(() => undefined);
        throw e;
      }
    },

    async listModels(): Promise<CachedModel[]> {
      return (await listModels(store)).map((m) => ({
        id: m.id,
        name: m.name,
        ...(m.origin.kind === 'url' ? { url: m.origin.url } : {}),
        bytes: m.size,
        complete: m.present,
        bytesStored: m.storedBytes,
        lastUsed: m.lastUsed,
      }));
    },

    async deleteModel(id) {
      await store.deleteModel(id);
    },
  };
}
