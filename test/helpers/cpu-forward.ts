/**
 * A plain CPU forward pass (f64 accumulation over dequantized f32 weights) used by tests as an
 * independent reference for the GPU runtime: it shares only the model config and the CPU
 * dequantizers with it. Small models only — every weight is dequantized into memory.
 */
import { readGGUF, readTensorBytes, type GGUFFile } from '../../src/gguf/index.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { modelConfigFromMetadata, type ModelConfig } from '../../src/model/config.ts';
import { resolveTensorNames, type ModelTensorNames } from '../../src/model/tensors.ts';
import { dequantizeTensor } from '../../src/quant/table.ts';

export class CpuModel {
  private kCache: Float32Array[][] = [];
  private vCache: Float32Array[][] = [];
  pos = 0;

  private constructor(
    readonly cfg: ModelConfig,
    readonly names: ModelTensorNames,
    private readonly w: Map<string, Float32Array>,
  ) {
    this.reset();
  }

  static async load(path: string): Promise<CpuModel> {
    const src = await FileByteSource.open(path);
    try {
      const file: GGUFFile = await readGGUF(src);
      const cfg = modelConfigFromMetadata(file, file.tensor('token_embd.weight')?.dims[1]);
      const names = resolveTensorNames(cfg, file.tensors);
      const w = new Map<string, Float32Array>();
      for (const t of file.tensors) {
        const bytes = await readTensorBytes(src, t);
        w.set(t.name, dequantizeTensor(t.typeId, bytes, t.nElements, { tensorName: t.name }));
      }
      return new CpuModel(cfg, names, w);
    } finally {
      await src.close();
    }
  }

  reset(): void {
    this.pos = 0;
    this.kCache = Array.from({ length: this.cfg.nLayer }, () => []);
    this.vCache = Array.from({ length: this.cfg.nLayer }, () => []);
  }

  /** A dequantized weight, live: tests edit it in place to show a comparison notices a change. */
  weight(name: string): Float32Array {
    return this.W(name);
  }

  private W(name: string): Float32Array {
    const t = this.w.get(name);
    if (!t) throw new Error(`no tensor ${name}`);
    return t;
  }

  /** Called with each linear's name and input as it runs (activation-statistics tests). */
  onLinearInput?: (weightName: string, input: Float32Array) => void;

  private matvec(name: string, x: Float32Array, rows: number): Float32Array {
    this.onLinearInput?.(name, x);
    const w = this.W(name);
    const cols = x.length;
    const y = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      const o = r * cols;
      for (let c = 0; c < cols; c++) s += w[o + c]! * x[c]!;
      y[r] = s;
    }
    return y;
  }

  private rmsnorm(x: Float32Array, weight: Float32Array, off = 0, n = x.length): void {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[off + i]! * x[off + i]!;
    const scale = 1 / Math.sqrt(ss / n + this.cfg.rmsEps);
    for (let i = 0; i < n; i++) x[off + i] = x[off + i]! * scale * weight[i]!;
  }

  private rope(x: Float32Array, nHeads: number, pos: number): void {
    const { headDim, ropeDim, ropeBase, ropeScale, ropeOrdering } = this.cfg;
    const factors = this.names.ropeFreqs ? this.W(this.names.ropeFreqs) : undefined;
    for (let h = 0; h < nHeads; h++) {
      const base = h * headDim;
      for (let i = 0; i < ropeDim / 2; i++) {
        const theta = (pos * ropeScale * Math.pow(ropeBase, (-2 * i) / ropeDim)) / (factors ? factors[i]! : 1);
        const c = Math.cos(theta);
        const s = Math.sin(theta);
        const [a, b] = ropeOrdering === 'normal' ? [base + 2 * i, base + 2 * i + 1] : [base + i, base + i + ropeDim / 2];
        const x0 = x[a]!;
        const x1 = x[b]!;
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
      }
    }
  }

  /** Runs one token at the next position; returns the logits. */
  step(token: number): Float32Array {
    const { cfg, names } = this;
    const { nEmbd, nHead, nHeadKV, headDim, headDimV, nFF } = cfg;
    const pos = this.pos++;
    const x = this.W(names.tokenEmbd).slice(token * nEmbd, (token + 1) * nEmbd);
    for (let l = 0; l < cfg.nLayer; l++) {
      const L = names.layers[l]!;
      const scale = (k: keyof typeof L.scales, v: Float32Array) => {
        const s = L.scales[k];
        if (s) for (let i = 0; i < v.length; i++) v[i] = v[i]! * this.W(s)[0]!;
        return v;
      };
      const h = x.slice();
      this.rmsnorm(h, this.W(L.attnNorm));
      const q = scale('q', this.matvec(L.q, h, nHead * headDim));
      const k = scale('k', this.matvec(L.k, h, nHeadKV * headDim));
      const v = scale('v', this.matvec(L.v, h, nHeadKV * headDimV));
      if (L.qBias) q.forEach((_, i) => (q[i] = q[i]! + this.W(L.qBias!)[i]!));
      if (L.kBias) k.forEach((_, i) => (k[i] = k[i]! + this.W(L.kBias!)[i]!));
      if (L.vBias) v.forEach((_, i) => (v[i] = v[i]! + this.W(L.vBias!)[i]!));
      if (L.qNorm) for (let hh = 0; hh < nHead; hh++) this.rmsnorm(q, this.W(L.qNorm), hh * headDim, headDim);
      if (L.kNorm) for (let hh = 0; hh < nHeadKV; hh++) this.rmsnorm(k, this.W(L.kNorm!), hh * headDim, headDim);
      this.rope(q, nHead, pos);
      this.rope(k, nHeadKV, pos);
      this.kCache[l]!.push(k);
      this.vCache[l]!.push(v);
      const att = new Float32Array(nHead * headDimV);
      const group = nHead / nHeadKV;
      for (let hh = 0; hh < nHead; hh++) {
        const kvh = Math.floor(hh / group);
        const scores = this.kCache[l]!.map((kk) => {
          let s = 0;
          for (let d = 0; d < headDim; d++) s += q[hh * headDim + d]! * kk[kvh * headDim + d]!;
          return s / Math.sqrt(headDim);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        this.vCache[l]!.forEach((vv, p) => {
          for (let d = 0; d < headDimV; d++) att[hh * headDimV + d] = att[hh * headDimV + d]! + (e[p]! / z) * vv[kvh * headDimV + d]!;
        });
      }
      if (L.attnSubNorm) this.rmsnorm(att, this.W(L.attnSubNorm));
      const o = scale('o', this.matvec(L.o, att, nEmbd));
      for (let i = 0; i < nEmbd; i++) x[i] = x[i]! + o[i]!;
      const h2 = x.slice();
      this.rmsnorm(h2, this.W(L.ffnNorm));
      const g = scale('gate', this.matvec(L.gate, h2, nFF));
      const u = scale('up', this.matvec(L.up, h2, nFF));
      const a = new Float32Array(nFF);
      for (let i = 0; i < nFF; i++) {
        const gi = g[i]!;
        a[i] = (cfg.ffnActivation === 'relu2' ? Math.max(gi, 0) ** 2 : gi / (1 + Math.exp(-gi))) * u[i]!;
      }
      if (L.ffnSubNorm) this.rmsnorm(a, this.W(L.ffnSubNorm));
      const d = scale('down', this.matvec(L.down, a, nEmbd));
      for (let i = 0; i < nEmbd; i++) x[i] = x[i]! + d[i]!;
    }
    this.rmsnorm(x, this.W(names.outputNorm));
    return this.matvec(names.output ?? names.tokenEmbd, x, cfg.vocabSize);
  }
}

export function softmax(logits: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of logits) m = Math.max(m, v);
  const p = new Float64Array(logits.length);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += p[i] = Math.exp(logits[i]! - m);
  for (let i = 0; i < p.length; i++) p[i]! /= z;
  return p;
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
