/**
 * Importance matrices: per-column activation statistics of each linear's input, the
 * `quant_weights` llama.cpp's quantizers weight their rounding error with.
 *
 * Two file formats, both as llama.cpp's llama-imatrix writes them:
 * - **GGUF** (current llama.cpp; the default): metadata `general.type` = "imatrix",
 *   `imatrix.datasets` (string array), `imatrix.chunk_count`, `imatrix.chunk_size` (u32); per
 *   weight `W`, F32 tensors `W.in_sum2` [n_cols, n_mat] (Σx²), `W.counts` [1, n_mat] (tokens seen)
 *   and `W.in_sum` [n_cols, n_mat] (Σx), names sorted.
 * - **legacy .dat**: i32 n_entries; per entry i32 name length, name bytes, i32 ncall, i32 nval,
 *   nval f32 = mean(x²)·ncall; then i32 chunk count, i32 dataset-name length and bytes.
 *
 * Both read into the same in-memory form. Files are hostile: every length is checked against the
 * bytes present before anything is allocated for it.
 */
import { GGUFFormatError } from '../errors.ts';
import { readGGUF, readTensorBytes } from '../gguf/index.ts';
import type { GGUFWriteSpec } from '../gguf/writer.ts';
import { GGUFValueType } from '../gguf/values.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { GGMLType } from './types.ts';

/** Statistics of one weight's input. n_mat is 1 for a dense weight (one per expert for MoE). */
export interface ImatrixEntry {
  /** Σx² per column, [n_mat][n_cols]. */
  sum2: Float32Array;
  /** Σx per column, when the file has it (GGUF from current llama.cpp, and lowbit). */
  sum?: Float32Array;
  /** Tokens seen, per matrix. */
  counts: number[];
}

export interface Imatrix {
  /** Keyed by weight name (`blk.0.attn_q.weight`). */
  entries: Map<string, ImatrixEntry>;
  /** The text files the statistics were collected over. */
  datasets: string[];
  chunkCount: number;
  chunkSize: number;
}

/** Per-column mean of x² for weight `name` (what llama-quantize passes as quant_weights), or undefined. */
export function importanceWeights(m: Imatrix, name: string): Float32Array | undefined {
  const e = m.entries.get(name);
  if (!e) return undefined;
  const nMat = e.counts.length;
  const cols = e.sum2.length / nMat;
  const out = new Float32Array(e.sum2.length);
  for (let k = 0; k < nMat; k++) {
    const c = e.counts[k]!;
    for (let j = 0; j < cols; j++) out[k * cols + j] = c > 0 ? e.sum2[k * cols + j]! / c : 1;
  }
  return out;
}

const SUFFIX_SUM2 = '.in_sum2';
const SUFFIX_SUM = '.in_sum';
const SUFFIX_COUNTS = '.counts';

/**
 * `n` little-endian f32 values copied out of `bytes`. A copy, because `bytes` may be a view into a
 * larger buffer (a Node Buffer's `slice()` is such a view, not a copy).
 */
const f32Copy = (bytes: Uint8Array, n: number) => new Float32Array(new Uint8Array(bytes.subarray(0, n * 4)).buffer, 0, n);

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The GGUF file llama-imatrix writes for `m` (pass to writeGGUF / writeGGUFToFile). */
export function imatrixGGUFSpec(m: Imatrix): GGUFWriteSpec {
  const list: NonNullable<GGUFWriteSpec['tensors']>[number][] = [];
  for (const name of [...m.entries.keys()].sort()) {
    const e = m.entries.get(name)!;
    const nMat = e.counts.length;
    const cols = e.sum2.length / nMat;
    list.push({ name: name + SUFFIX_SUM2, dims: [cols, nMat], type: GGMLType.F32, data: f32Bytes(e.sum2) });
    list.push({ name: name + SUFFIX_COUNTS, dims: [1, nMat], type: GGMLType.F32, data: f32Bytes(Float32Array.from(e.counts)) });
    if (e.sum) list.push({ name: name + SUFFIX_SUM, dims: [cols, nMat], type: GGMLType.F32, data: f32Bytes(e.sum) });
  }
  return {
    metadata: [
      { key: 'general.type', type: GGUFValueType.STRING, value: 'imatrix' },
      { key: 'imatrix.datasets', type: GGUFValueType.ARRAY, value: m.datasets },
      { key: 'imatrix.chunk_count', type: GGUFValueType.UINT32, value: m.chunkCount },
      { key: 'imatrix.chunk_size', type: GGUFValueType.UINT32, value: m.chunkSize },
    ],
    tensors: list,
  };
}

/** The legacy .dat bytes llama-imatrix --output-format dat writes for `m`. */
export function encodeLegacyImatrix(m: Imatrix): Uint8Array {
  const enc = new TextEncoder();
  const names = [...m.entries.keys()].sort();
  const parts: Uint8Array[] = [];
  const i32 = (v: number) => new Uint8Array(Int32Array.of(v).buffer);
  parts.push(i32(names.length));
  const chunk = Math.max(1, m.chunkSize);
  for (const name of names) {
    const e = m.entries.get(name)!;
    const nameBytes = enc.encode(name);
    parts.push(i32(nameBytes.length), nameBytes);
    // ceiling division, as llama.cpp, so a partial chunk is not a zero
    const ncall = Math.ceil(Math.max(...e.counts) / chunk);
    parts.push(i32(ncall), i32(e.sum2.length));
    const per = e.sum2.length / e.counts.length;
    const vals = new Float32Array(e.sum2.length);
    for (let i = 0; i < vals.length; i++) {
      const c = e.counts[Math.floor(i / per)]!;
      vals[i] = c === 0 ? ncall : (e.sum2[i]! / c) * ncall;
    }
    parts.push(f32Bytes(vals));
  }
  parts.push(i32(m.chunkCount));
  const dataset = enc.encode(m.datasets.at(-1) ?? '');
  parts.push(i32(dataset.length), dataset);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Reads an importance matrix in either format (GGUF when the file starts with "GGUF"). */
export async function readImatrix(source: ByteSource): Promise<Imatrix> {
  const magic = await source.read(0, Math.min(4, source.size));
  if (magic.length === 4 && String.fromCharCode(...magic) === 'GGUF') return readImatrixGGUF(source);
  if (source.size > MAX_LEGACY_BYTES) {
    throw new GGUFFormatError(`${source.name}: ${source.size} bytes is over the ${MAX_LEGACY_BYTES}-byte limit for a legacy .dat imatrix`);
  }
  return decodeLegacyImatrix(await source.read(0, source.size), source.name, source.size);
}

async function readImatrixGGUF(source: ByteSource): Promise<Imatrix> {
  const file = await readGGUF(source);
  const bad = (msg: string) => new GGUFFormatError(`${source.name}: ${msg}`);
  const type = file.getString('general.type');
  if (type !== undefined && type !== 'imatrix') throw bad(`general.type is '${type}', not an importance matrix`);
  const groups = new Map<
    string,
    { sum2?: (typeof file.tensors)[number]; sum?: (typeof file.tensors)[number]; counts?: (typeof file.tensors)[number] }
  >();
  for (const t of file.tensors) {
    let suffix: 'sum2' | 'sum' | 'counts' | undefined;
    let base = '';
    for (const [s, key] of [
      [SUFFIX_SUM2, 'sum2'],
      [SUFFIX_COUNTS, 'counts'],
      [SUFFIX_SUM, 'sum'],
    ] as const) {
      if (t.name.endsWith(s)) {
        suffix = key;
        base = t.name.slice(0, -s.length);
        break;
      }
    }
    if (!suffix) continue; // llama.cpp ignores other tensors too
    if (t.typeName !== 'F32') throw bad(`${t.name} is ${t.typeName}; imatrix tensors are F32`);
    const g = groups.get(base) ?? {};
    g[suffix] = t;
    groups.set(base, g);
  }
  if (groups.size === 0) throw bad('no importance-matrix tensors (*.in_sum2 / *.counts)');
  const entries = new Map<string, ImatrixEntry>();
  const floats = async (t: (typeof file.tensors)[number]) => {
    return f32Copy(await readTensorBytes(source, t), t.nElements);
  };
  for (const [name, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!g.sum2 || !g.counts) throw bad(`mismatched sums and counts for ${name}`);
    if (g.sum && g.sum.nElements !== g.sum2.nElements) throw bad(`${name}: in_sum and in_sum2 differ in size`);
    const nMat = g.counts.nElements;
    if (nMat < 1 || g.sum2.nElements % nMat !== 0) throw bad(`${name}: ${g.sum2.nElements} sums do not split into ${nMat} matrices`);
    const counts = [...(await floats(g.counts))].map((c) => {
      if (!Number.isFinite(c) || c < 0) throw bad(`${name}: count ${c} is not a number of tokens`);
      return Math.round(c);
    });
    entries.set(name, { sum2: await floats(g.sum2), ...(g.sum ? { sum: await floats(g.sum) } : {}), counts });
  }
  const datasetsArr = file.getArray('imatrix.datasets');
  const datasets =
    datasetsArr && Array.isArray(datasetsArr.items)
      ? (datasetsArr.items as unknown[]).filter((s): s is string => typeof s === 'string')
      : [];
  return {
    entries,
    datasets,
    chunkCount: file.getNumber('imatrix.chunk_count') ?? 0,
    chunkSize: file.getNumber('imatrix.chunk_size') ?? 0,
  };
}

/** Largest legacy .dat file read (it is read whole; a 405B model's matrix is a few hundred MB). */
const MAX_LEGACY_BYTES = 1024 * 1024 * 1024;

/** Bound on a legacy entry's name (llama.cpp tensor names are under 64 bytes). */
const MAX_LEGACY_NAME = 4096;

/**
 * Parses a legacy .dat imatrix. The chunk size is not stored there; like llama.cpp, counts are
 * reconstructed as ncall × `chunkSize` (default 512, llama-imatrix's default context).
 */
export function decodeLegacyImatrix(bytes: Uint8Array, fileName = 'imatrix', fileSize = bytes.length, chunkSize = 512): Imatrix {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  const bad = (msg: string) => new GGUFFormatError(`${fileName}: not an importance matrix (legacy .dat): ${msg} at byte ${off}`);
  const i32 = () => {
    if (off + 4 > bytes.length) throw bad('truncated');
    const v = view.getInt32(off, true);
    off += 4;
    return v;
  };
  const nEntries = i32();
  // Each entry takes at least 13 bytes, so a count the file cannot hold is refused before the loop.
  if (nEntries < 1 || nEntries > fileSize / 13) throw bad(`entry count ${nEntries}`);
  const entries = new Map<string, ImatrixEntry>();
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < nEntries; i++) {
    const len = i32();
    if (len < 1 || len > MAX_LEGACY_NAME || off + len > bytes.length) throw bad(`name length ${len}`);
    let name: string;
    try {
      name = dec.decode(bytes.subarray(off, off + len));
    } catch {
      throw bad('name is not UTF-8');
    }
    off += len;
    const ncall = i32();
    const nval = i32();
    if (nval < 1 || off + nval * 4 > bytes.length) throw bad(`value count ${nval} for ${name}`);
    if (ncall < 0) throw bad(`call count ${ncall} for ${name}`);
    const vals = f32Copy(bytes.subarray(off, off + nval * 4), nval);
    off += nval * 4;
    // Stored as mean(x²)·ncall; back to sums over ncall·chunkSize tokens. With ncall 0 llama-quantize
    // takes the stored values as the weights: one token's sums give the same weights here.
    if (ncall === 0) entries.set(name, { sum2: vals, counts: [1] });
    else entries.set(name, { sum2: vals.map((v) => v * chunkSize), counts: [ncall * chunkSize] });
  }
  let chunkCount = 0;
  const datasets: string[] = [];
  if (off + 4 <= bytes.length) {
    chunkCount = i32();
    if (off + 4 <= bytes.length) {
      const len = i32();
      if (len >= 0 && off + len <= bytes.length) {
        try {
          datasets.push(dec.decode(bytes.subarray(off, off + len)));
        } catch {
          // the dataset name is informational only
        }
      }
    }
  }
  return { entries, datasets, chunkCount, chunkSize };
}
