/**
 * A ModelStore in memory: for tests (with fault injection through subclassing) and as a fallback
 * when no persistent storage exists. Holds whole models in memory by nature.
 */
import { checkRecord, type ModelManifest, type ModelStore, type StorageSpace } from './store.ts';

export class MemoryModelStore implements ModelStore {
  readonly kind: string = 'memory';
  readonly location: string = 'memory';
  protected readonly manifests = new Map<string, ModelManifest>();
  /** Each chunk as the parts it was written in (joined on read). */
  protected readonly chunks = new Map<string, Uint8Array[]>();

  protected readonly records = new Map<string, string>();

  constructor(private readonly capacityBytes?: number) {}

  async readRecord(key: string): Promise<string | undefined> {
    return this.records.get(key);
  }
  async writeRecord(key: string, text: string): Promise<void> {
    checkRecord(key, text);
    this.records.set(key, text);
  }

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
  async writeChunk(manifest: ModelManifest, index: number, bytes: Uint8Array, offset = 0): Promise<void> {
    const key = `${manifest.id}\u0000${index}`;
    // Keep the parts before `offset` (cutting one that straddles it); later ones are stale.
    const kept: Uint8Array[] = [];
    let at = 0;
    for (const part of offset > 0 ? (this.chunks.get(key) ?? []) : []) {
      if (at >= offset) break;
      kept.push(part.subarray(0, Math.min(part.length, offset - at)));
      at += kept.at(-1)!.length;
    }
    if (at !== offset) throw new RangeError(`chunk ${index}: write at ${offset}, but only ${at} bytes are stored`);
    kept.push(bytes.slice());
    this.chunks.set(key, kept);
  }
  async readChunk(manifest: ModelManifest, index: number): Promise<Uint8Array | undefined> {
    return this.joined(`${manifest.id}\u0000${index}`);
  }
  /** A chunk's parts as one array, kept that way (so a test's in-place corruption sticks). */
  private joined(key: string): Uint8Array | undefined {
    const parts = this.chunks.get(key);
    if (!parts) return undefined;
    if (parts.length === 1) return parts[0];
    const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      whole.set(p, at);
      at += p.length;
    }
    this.chunks.set(key, [whole]);
    return whole;
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
    for (const parts of this.chunks.values()) for (const p of parts) used += p.length;
    return { availableBytes: Math.max(0, this.capacityBytes - used), quotaBytes: this.capacityBytes, usageBytes: used };
  }

  /** Test hook: the raw stored chunk, to corrupt it in place. */
  rawChunk(id: string, index: number): Uint8Array | undefined {
    return this.joined(`${id}\u0000${index}`);
  }
}
