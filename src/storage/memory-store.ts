/**
 * A ModelStore in memory: for tests (with fault injection through subclassing) and as a fallback
 * when no persistent storage exists. Holds whole models in memory by nature.
 */
import type { ModelManifest, ModelStore, StorageSpace } from './store.ts';

export class MemoryModelStore implements ModelStore {
  readonly kind: string = 'memory';
  readonly location: string = 'memory';
  protected readonly manifests = new Map<string, ModelManifest>();
  protected readonly chunks = new Map<string, Uint8Array>();

  constructor(private readonly capacityBytes?: number) {}

  async listManifests(): Promise<ModelManifest[]> {
    return [...this.manifests.values()].map((m) => structuredClone(m));
  }
  async getManifest(id: string): Promise<ModelManifest | undefined> {
    const m = this.manifests.get(id);
    return m && structuredClone(m);
  }
  async putManifest(manifest: ModelManifest): Promise<void> {
    this.manifests.set(manifest.id, structuredClone(manifest));
  }
  async writeChunk(manifest: ModelManifest, index: number, bytes: Uint8Array): Promise<void> {
    this.chunks.set(`${manifest.id}\u0000${index}`, bytes.slice());
  }
  async readChunk(manifest: ModelManifest, index: number): Promise<Uint8Array | undefined> {
    return this.chunks.get(`${manifest.id}\u0000${index}`);
  }
  async clearChunks(manifest: ModelManifest): Promise<void> {
    for (const key of [...this.chunks.keys()]) if (key.startsWith(`${manifest.id}\u0000`)) this.chunks.delete(key);
  }
  async deleteModel(id: string): Promise<void> {
    const m = this.manifests.get(id);
    if (m) await this.clearChunks(m);
    this.manifests.delete(id);
  }
  async space(): Promise<StorageSpace> {
    if (this.capacityBytes === undefined) return {};
    let used = 0;
    for (const c of this.chunks.values()) used += c.length;
    return { availableBytes: Math.max(0, this.capacityBytes - used), quotaBytes: this.capacityBytes, usageBytes: used };
  }

  /** Test hook: the raw stored chunk, to corrupt it in place. */
  rawChunk(id: string, index: number): Uint8Array | undefined {
    return this.chunks.get(`${id}\u0000${index}`);
  }
}
