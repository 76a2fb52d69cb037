/**
 * Collects an importance matrix on the GPU: a ForwardOptions.linearInputTap that adds each
 * linear's input Σx² and Σx per column to GPU-resident totals as the model evaluates text, read
 * back once at the end. Which weights are covered follows llama-imatrix: every `blk.*` linear
 * (not the LM head).
 */
import type { GpuContext } from '../gpu/device.ts';
import { createStorageBuffer } from '../gpu/buffers.ts';
import type { KernelCall } from '../kernels/common.ts';
import { createSumSquares } from '../kernels/sum-squares.ts';
import type { Imatrix, ImatrixEntry } from '../quant/imatrix.ts';
import type { LinearInput } from './forward.ts';
import { fusedWeightMembers } from './fused-weights.ts';

interface Totals {
  cols: number;
  sum2: GPUBuffer;
  sum: GPUBuffer;
}

export class ActivationStats {
  private readonly totals = new Map<string, Totals>();
  /** Tokens evaluated so far: every covered linear sees each of them once. */
  private tokens = 0;

  constructor(private readonly ctx: GpuContext) {}

  /** Pass as ForwardOptions.linearInputTap. */
  readonly tap = (at: LinearInput): KernelCall | undefined => {
    if (!at.weightName.startsWith('blk.')) return undefined;
    let t = this.totals.get(at.weightName);
    if (!t) {
      const make = (what: string) =>
        createStorageBuffer(this.ctx, at.cols * 4, {
          label: `imatrix.${what}.${at.weightName}`,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        });
      t = { cols: at.cols, sum2: make('sum2'), sum: make('sum') };
      this.totals.set(at.weightName, t);
    }
    return createSumSquares(this.ctx, { n: at.cols }).bind({ params: at.params, input: at.input, sum2: t.sum2, sum: t.sum });
  };

  /** Records that `n` more tokens were evaluated (call once per evaluated sequence). */
  addTokens(n: number): void {
    this.tokens += n;
  }

  /** Zeroes the totals and the token count (the taps stay bound). */
  reset(): void {
    const enc = this.ctx.device.createCommandEncoder();
    for (const t of this.totals.values()) {
      enc.clearBuffer(t.sum2);
      enc.clearBuffer(t.sum);
    }
    this.ctx.device.queue.submit([enc.finish()]);
    this.tokens = 0;
  }

  /** Reads the totals back as an importance matrix. */
  async read(info: { datasets: string[]; chunkCount: number; chunkSize: number }): Promise<Imatrix> {
    const { device } = this.ctx;
    const names = [...this.totals.keys()].sort();
    const bytes = names.reduce((s, n) => s + this.totals.get(n)!.cols * 8, 0);
    const staging = device.createBuffer({
      label: 'imatrix.readback',
      size: Math.max(4, bytes),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const enc = device.createCommandEncoder();
      let off = 0;
      for (const n of names) {
        const t = this.totals.get(n)!;
        enc.copyBufferToBuffer(t.sum2, 0, staging, off, t.cols * 4);
        enc.copyBufferToBuffer(t.sum, 0, staging, off + t.cols * 4, t.cols * 4);
        off += t.cols * 8;
      }
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const all = new Float32Array(staging.getMappedRange().slice(0));
      staging.unmap();
      const entries = new Map<string, ImatrixEntry>();
      off = 0;
      for (const n of names) {
        const { cols } = this.totals.get(n)!;
        // A fused weight (Q/K/V, gate/up) reads one input: each of its members gets the totals.
        for (const member of fusedWeightMembers(n)) {
          entries.set(member, { sum2: all.slice(off, off + cols), sum: all.slice(off + cols, off + 2 * cols), counts: [this.tokens] });
        }
        off += 2 * cols;
      }
      return { entries, ...info };
    } finally {
      staging.destroy();
    }
  }

  destroy(): void {
    for (const t of this.totals.values()) {
      t.sum2.destroy();
      t.sum.destroy();
    }
    this.totals.clear();
  }
}
