/**
 * Streaming weight loader: GGUF tensor bytes flow from any ByteSource (a stored model, a file, a
 * Blob) into GPU buffers piece by piece, so peak JS memory is a couple of pieces whatever the
 * model size: a 4 GB model loads like a 40 MB one. No ArrayBuffer ever holds a whole tensor.
 *
 * Per tensor: rows = product of ne[1..], cols = ne[0]; the raw row-major bytes are copied, split
 * into several buffers by whole rows when a tensor exceeds the device's binding limit
 * (maxStorageBufferBindingSize, maxBufferSize). Buffers are padded to a multiple of 4 bytes and
 * every write is 4-byte aligned in offset and size (queue.writeBuffer's rule): bytes that do not
 * fill a word are carried into the next piece, the final word is zero-padded.
 * I2_S: only the 2-bit codes (n/4 bytes) go to the GPU; the f32 per-tensor scale that follows them
 * is returned as `i2sScale`.
 * A type whose quant-table entry carries a `repack` (a pure function over whole blocks) is
 * repacked piece by piece on the way, pieces being cut at block boundaries.
 *
 * The destination is a {@link WeightSink}: {@link gpuWeightSink} for a GPUDevice, or any object with
 * the same three methods (tests measure memory with a sink that only checksums).
 */
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/file.ts';
import { readGGUF } from '../gguf/reader.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { getQuantType, type QuantType } from '../quant/table.ts';
import { GGMLType } from '../quant/types.ts';
import { ProgressTracker, type ProgressCallback } from '../io/progress.ts';

/** One buffer of a weight: rows [rowStart, rowStart + rowCount). */
export interface WeightPart<B> {
  buffer: B;
  rowStart: number;
  rowCount: number;
}

/** A loaded weight; with B = GPUBuffer this is the kernels' GpuWeight (docs: notes/KERNELS.md). */
export interface LoadedWeight<B> {
  name: string;
  type: GGMLType;
  /** Output features: product of ne[1..] (1 for a vector). */
  rows: number;
  /** Input features: ne[0]. */
  cols: number;
  /** Bytes per row as stored in the buffers (after any repack). */
  rowBytes: number;
  parts: WeightPart<B>[];
  /** I2_S only: the per-tensor scale. */
  i2sScale?: number;
}

export type GpuWeight = LoadedWeight<GPUBuffer>;

/** Where tensor bytes go. Offsets and lengths passed to `write` are multiples of 4. */
export interface WeightSink<B> {
  /** Largest buffer the sink accepts (for a GPU: min(maxStorageBufferBindingSize, maxBufferSize)). */
  readonly maxBufferBytes: number;
  /** A destination of `size` bytes (a multiple of 4). */
  create(label: string, size: number): B;
  write(buffer: B, offset: number, bytes: Uint8Array): void | Promise<void>;
  /** Waits until queued writes are consumed, bounding staging memory; called every `flushBytes`. */
  flush?(): Promise<void>;
  /** Releases a buffer (on failure). */
  destroy?(buffer: B): void;
  /** Runs one tensor's buffer creation + writes, turning device errors into typed ones. */
  guard?<T>(tensorName: string, bytes: number, body: () => Promise<T>): Promise<T>;
}

/**
 * A load-time repack registered on a quant-table entry (`repack` property): converts `nBlocks`
 * whole blocks from the file layout (`inBlockBytes` each) to the GPU layout (`outBlockBytes` each).
 */
export interface BlockRepack {
  readonly inBlockBytes: number;
  readonly outBlockBytes: number;
  apply(src: Uint8Array, dst: Uint8Array, nBlocks: number): void;
}

/** Splits `rows` rows of `rowBytes` bytes into parts of at most `maxBytes` (after 4-byte padding). */
export type PartPlanner = (rows: number, rowBytes: number, maxBytes: number, tensorName: string) => { rowStart: number; rowCount: number }[];

export interface LoadWeightsOptions<B> {
  sink: WeightSink<B>;
  /** The parsed header, when the caller has it; else it is read from the source. */
  gguf?: GGUFFile;
  /** Which tensors to load (default: all). */
  filter?: (tensor: GGUFTensorInfo) => boolean;
  /** Bytes per read from the source (default 4 MiB, at most a store chunk; rounded down to whole blocks for repacks). */
  pieceBytes?: number;
  /** Call sink.flush() after this many bytes written (default 64 MiB). */
  flushBytes?: number;
  planParts?: PartPlanner;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export const DEFAULT_PIECE_BYTES = 4 * 1024 * 1024;

const pad4 = (n: number) => Math.ceil(n / 4) * 4;

/** Default split: as many whole rows per part as fit, the last part taking the rest. */
export function planRowParts(rows: number, rowBytes: number, maxBytes: number, tensorName: string): { rowStart: number; rowCount: number }[] {
  const limit = Math.floor(maxBytes / 4) * 4;
  if (pad4(rows * rowBytes) <= limit) return [{ rowStart: 0, rowCount: rows }];
  const perPart = Math.floor(limit / rowBytes);
  if (perPart < 1) {
    throw new DeviceLimitError(`tensor "${tensorName}": one row is ${rowBytes} bytes, more than the device's buffer limit of ${maxBytes} bytes`);
  }
  const parts = [];
  for (let r = 0; r < rows; r += perPart) parts.push({ rowStart: r, rowCount: Math.min(perPart, rows - r) });
  return parts;
}

interface TensorPlan {
  info: GGUFTensorInfo;
  quant: QuantType;
  rows: number;
  cols: number;
  /** Bytes per row in the file. */
  rowBytesIn: number;
  /** Bytes per row in the buffers. */
  rowBytesOut: number;
  repack?: BlockRepack;
  /** Bytes of the tensor that are streamed (I2_S: codes only). */
  streamBytes: number;
}

function planTensor(t: GGUFTensorInfo, sourceName: string): TensorPlan {
  const quant = getQuantType(t.typeId, t.name);
  const cols = t.dims[0] ?? 1;
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const layout = quant.layout;
  if (cols % layout.blockSize !== 0) {
    throw new ModelFormatError(`${sourceName}: tensor "${t.name}" has rows of ${cols} elements, not a multiple of ${layout.name}'s block of ${layout.blockSize}`);
  }
  const isI2S = t.typeId === GGMLType.I2_S;
  if (isI2S && cols % 128 !== 0) {
    throw new ModelFormatError(`${sourceName}: I2_S tensor "${t.name}" has rows of ${cols} elements, not a multiple of 128`);
  }
  const rowBytesIn = isI2S ? cols / 4 : (cols / layout.blockSize) * layout.blockBytes;
  const repack = (quant as QuantType & { repack?: BlockRepack }).repack;
  if (repack && repack.inBlockBytes !== layout.blockBytes) {
    throw new ModelFormatError(`repack of ${layout.name} expects ${repack.inBlockBytes}-byte blocks, the layout has ${layout.blockBytes}`);
  }
  const rowBytesOut = repack ? (rowBytesIn / repack.inBlockBytes) * repack.outBlockBytes : rowBytesIn;
  return { info: t, quant, rows, cols, rowBytesIn, rowBytesOut, repack, streamBytes: rows * rowBytesIn };
}

/**
 * Writes a stream of byte pieces into one buffer at 4-byte aligned offsets and sizes: a tail of
 * fewer than 4 bytes waits for the next piece; `end()` zero-pads the last word.
 */
class AlignedWriter<B> {
  private readonly carry = new Uint8Array(4);
  private carryLength = 0;
  private offset = 0;
  constructor(
    private readonly sink: WeightSink<B>,
    private readonly buffer: B,
  ) {}

  async push(bytes: Uint8Array): Promise<void> {
    let from = 0;
    if (this.carryLength > 0) {
      const take = Math.min(4 - this.carryLength, bytes.length);
      this.carry.set(bytes.subarray(0, take), this.carryLength);
      this.carryLength += take;
      from = take;
      if (this.carryLength < 4) return;
      await this.sink.write(this.buffer, this.offset, this.carry.slice());
      this.offset += 4;
      this.carryLength = 0;
    }
    const aligned = (bytes.length - from) & ~3;
    if (aligned > 0) {
      await this.sink.write(this.buffer, this.offset, bytes.subarray(from, from + aligned));
      this.offset += aligned;
    }
    const rest = bytes.length - from - aligned;
    if (rest > 0) {
      this.carry.set(bytes.subarray(bytes.length - rest));
      this.carryLength = rest;
    }
  }

  async end(): Promise<void> {
    if (this.carryLength === 0) return;
    this.carry.fill(0, this.carryLength);
    await this.sink.write(this.buffer, this.offset, this.carry.slice());
    this.offset += 4;
    this.carryLength = 0;
  }
}

/**
 * Loads tensors from `source` into buffers made by `options.sink`. Returns name → weight in file
 * order. On failure, buffers created so far are destroyed (when the sink can).
 */
export async function loadWeights<B>(source: ByteSource, options: LoadWeightsOptions<B>): Promise<Map<string, LoadedWeight<B>>> {
  const { sink, signal } = options;
  const gguf = options.gguf ?? (await readGGUF(source, { signal }));
  const tensors = gguf.tensors.filter((t) => options.filter?.(t) ?? true);
  const plans = tensors.map((t) => planTensor(t, source.name));
  for (const p of plans) {
    const end = p.info.absoluteOffset + p.info.byteSize;
    if (end > source.size) {
      throw new ModelFormatError(`${source.name}: tensor "${p.info.name}" ends at byte ${end}, past the end of the file (${source.size} bytes)`);
    }
  }
  const planParts = options.planParts ?? planRowParts;
  const sourceChunk = (source as { chunkSize?: number }).chunkSize;
  const pieceTarget = Math.max(4096, options.pieceBytes ?? Math.min(DEFAULT_PIECE_BYTES, sourceChunk ?? Infinity));
  const flushBytes = options.flushBytes ?? 64 * 1024 * 1024;
  const total = plans.reduce((s, p) => s + p.streamBytes, 0);
  const tracker = new ProgressTracker('upload', source.name, total, options.onProgress);
  const created: B[] = [];
  const out = new Map<string, LoadedWeight<B>>();
  let done = 0;
  let sinceFlush = 0;
  tracker.update(0, true);

  const loadOne = async (p: TensorPlan): Promise<LoadedWeight<B>> => {
    const weight: LoadedWeight<B> = { name: p.info.name, type: p.info.typeId as GGMLType, rows: p.rows, cols: p.cols, rowBytes: p.rowBytesOut, parts: [] };
    // Pieces hold whole blocks when repacking, so each can be converted on its own.
    const unit = p.repack ? p.repack.inBlockBytes : 1;
    const piece = Math.max(unit, Math.floor(pieceTarget / unit) * unit);
    const scratch = p.repack ? new Uint8Array((piece / unit) * p.repack.outBlockBytes) : undefined;
    for (const part of planParts(p.rows, p.rowBytesOut, sink.maxBufferBytes, p.info.name)) {
      const size = pad4(part.rowCount * p.rowBytesOut);
      const buffer = sink.create(`${p.info.name} rows ${part.rowStart}..${part.rowStart + part.rowCount - 1}`, size);
      created.push(buffer);
      weight.parts.push({ buffer, rowStart: part.rowStart, rowCount: part.rowCount });
      const writer = new AlignedWriter(sink, buffer);
      const start = p.info.absoluteOffset + part.rowStart * p.rowBytesIn;
      const end = start + part.rowCount * p.rowBytesIn;
      // Read the next piece while the current one is written: two pieces in memory at most.
      // Over a chunked store, pieces stop at chunk boundaries so each is a view into a cached
      // chunk rather than a copy (repacks need whole blocks, so they may span chunks).
      const read = (at: number) => {
        if (at >= end) return undefined;
        let n = Math.min(piece, end - at);
        if (sourceChunk && !p.repack) n = Math.min(n, sourceChunk - (at % sourceChunk));
        return source.read(at, n, signal);
      };
      let next = read(start);
      for (let at = start; at < end; ) {
        const bytes = await next!;
        at += bytes.length;
        next = read(at);
        next?.catch(() => {}); // surfaced when awaited; not unhandled if we stop early
        if (p.repack) {
          const nBlocks = bytes.length / unit;
          const dst = scratch!.subarray(0, nBlocks * p.repack.outBlockBytes);
          p.repack.apply(bytes, dst, nBlocks);
          await writer.push(dst);
        } else {
          await writer.push(bytes);
        }
        done += bytes.length;
        sinceFlush += bytes.length;
        tracker.update(done);
        if (sinceFlush >= flushBytes && sink.flush) {
          sinceFlush = 0;
          await sink.flush();
        }
      }
      await writer.end();
    }
    if (p.info.typeId === GGMLType.I2_S) {
      const at = p.info.absoluteOffset + (p.rows * p.cols) / 4;
      const b = await source.read(at, 4, signal);
      weight.i2sScale = new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
    }
    return weight;
  };

  try {
    for (const p of plans) {
      signal?.throwIfAborted();
      const bytes = p.rows * p.rowBytesOut;
      const weight = sink.guard ? await sink.guard(p.info.name, bytes, () => loadOne(p)) : await loadOne(p);
      out.set(weight.name, weight);
    }
    if (sink.flush) await sink.flush();
  } catch (e) {
    for (const b of created) sink.destroy?.(b);
    throw e;
  }
  tracker.update(done, true);
  return out;
}

/** Sink writing into GPU storage buffers with queue.writeBuffer. */
export function gpuWeightSink(device: GPUDevice, options: { maxBufferBytes?: number; usage?: GPUBufferUsageFlags } = {}): WeightSink<GPUBuffer> {
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  return {
    maxBufferBytes: Math.min(options.maxBufferBytes ?? limit, limit),
    create: (label, size) =>
      device.createBuffer({ label, size, usage: options.usage ?? GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC }),
    write: (buffer, offset, bytes) => device.queue.writeBuffer(buffer, offset, bytes as Uint8Array<ArrayBuffer>),
    flush: () => device.queue.onSubmittedWorkDone(),
    destroy: (buffer) => buffer.destroy(),
    async guard(tensorName, bytes, body) {
      device.pushErrorScope('out-of-memory');
      device.pushErrorScope('validation');
      let result: Awaited<ReturnType<typeof body>> | undefined;
      let failure: unknown;
      try {
        result = await body();
      } catch (e) {
        failure = e;
      }
      const validation = await device.popErrorScope();
      const oom = await device.popErrorScope();
      if (failure !== undefined) throw failure;
      if (oom) throw new DeviceLimitError(`out of GPU memory uploading tensor "${tensorName}" (${bytes} bytes): ${oom.message}`);
      if (validation) throw new DeviceLimitError(`GPU rejected the buffers of tensor "${tensorName}" (${bytes} bytes): ${validation.message}`);
      return result!;
    },
  };
}

/** Loads a model's weights onto a GPU device. */
export function loadGpuWeights(
  device: GPUDevice,
  source: ByteSource,
  options: Omit<LoadWeightsOptions<GPUBuffer>, 'sink'> & { maxBufferBytes?: number } = {},
): Promise<Map<string, GpuWeight>> {
  return loadWeights(source, { ...options, sink: gpuWeightSink(device, { maxBufferBytes: options.maxBufferBytes }) });
}
