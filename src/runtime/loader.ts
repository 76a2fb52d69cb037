/**
 * Streaming weight loader: GGUF tensor bytes flow from any ByteSource (a stored model, a file, a
 * Blob) into GPU buffers piece by piece, so peak JS memory is a couple of pieces whatever the
 * model size: a 4 GB model loads like a 40 MB one. No ArrayBuffer ever holds a whole tensor.
 * Pieces come from the source's transient reader when it has one (two buffers reused piece after
 * piece), so the load does not depend on the garbage collector to stay within those pieces: the
 * sink must be done with a piece's bytes when its `write` returns (queue.writeBuffer copies them).
 *
 * Per tensor: rows = product of ne[1..], cols = ne[0]; the raw row-major bytes are copied, split
 * into several buffers by whole rows when a tensor exceeds the device's binding limit
 * (maxStorageBufferBindingSize, maxBufferSize). Buffers are padded to a multiple of 4 bytes and
 * every write is 4-byte aligned in offset and size (queue.writeBuffer's rule): bytes that do not
 * fill a word are carried into the next piece, the final word is zero-padded.
 * The row rule (bytes per row, the row multiple) and any per-tensor trailer come from the type's
 * quant-table entry: only the rows go to the GPU; the trailer is read into the weight's
 * parameters (tensorScale) by the entry. A type whose decoder reads a GPU row layout of its own
 * (src/quant/gpu-layout.ts) is repacked on the way, a row segment at a time
 * ({@link SegmentRepacker}), so memory stays bounded by a piece plus one segment.
 *
 * The destination is a {@link WeightSink}: {@link gpuWeightSink} for a GPUDevice, or any object with
 * the same three methods (tests measure memory with a sink that only checksums).
 */
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/file.ts';
import { readGGUF } from '../gguf/reader.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { pad4 } from '../gpu/buffers.ts';
import { type GpuWeight, maxWeightPartBytes, planRowParts } from '../gpu/weights.ts';
import type { GpuRowLayout } from '../quant/gpu-layout.ts';
import { getGpuQuantType, type GpuQuantType } from '../quant/table.ts';
import { ProgressTracker, type ProgressCallback } from '../io/progress.ts';

/** Where tensor bytes go. Offsets and lengths passed to `write` are multiples of 4. */
export interface WeightSink<B> {
  /** Largest buffer the sink accepts (for a GPU: min(maxStorageBufferBindingSize, maxBufferSize)). */
  readonly maxBufferBytes: number;
  /** A destination of `size` bytes (a multiple of 4). */
  create(label: string, size: number): B;
  /** `bytes` may be reused once this returns (or its promise settles): copy what is kept. */
  write(buffer: B, offset: number, bytes: Uint8Array): void | Promise<void>;
  /** Waits until queued writes are consumed, bounding staging memory; called every `flushBytes`. */
  flush?(): Promise<void>;
  /** Releases a buffer (on failure). */
  destroy?(buffer: B): void;
  /** Runs one tensor's buffer creation + writes, turning device errors into typed ones. */
  guard?<T>(tensorName: string, bytes: number, body: () => Promise<T>): Promise<T>;
}

export interface LoadWeightsOptions<B> {
  sink: WeightSink<B>;
  /** The parsed header, when the caller has it; else it is read from the source. */
  gguf?: GGUFFile;
  /** Which tensors to load (default: all). */
  filter?: (tensor: GGUFTensorInfo) => boolean;
  /** Bytes per read from the source (default 4 MiB, at most a store chunk). */
  pieceBytes?: number;
  /** Call sink.flush() after this many bytes written (default 64 MiB). */
  flushBytes?: number;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export const DEFAULT_PIECE_BYTES = 4 * 1024 * 1024;

interface TensorPlan {
  info: GGUFTensorInfo;
  quant: GpuQuantType;
  rows: number;
  cols: number;
  /** Bytes per row in the buffers (the GPU layout's, when the type is repacked). */
  rowBytes: number;
  /** Bytes per row in the file. */
  fileRowBytes: number;
  /** Bytes of the tensor that are streamed: the rows, without the trailer. */
  streamBytes: number;
}

function planTensor(t: GGUFTensorInfo, sourceName: string): TensorPlan {
  const quant = getGpuQuantType(t.typeId, t.name);
  const cols = t.dims[0] ?? 1;
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  if (cols % quant.rowMultiple !== 0) {
    throw new ModelFormatError(
      `${sourceName}: tensor "${t.name}" has rows of ${cols} elements, not a multiple of ${quant.name}'s ${quant.rowMultiple}`,
    );
  }
  const fileRowBytes = quant.rowBytes(cols, t.name);
  return { info: t, quant, rows, cols, rowBytes: quant.gpuRowBytes(cols, t.name), fileRowBytes, streamBytes: rows * fileRowBytes };
}

/**
 * The weights {@link loadWeights} makes of `tensors` for a sink taking buffers of at most
 * `maxBufferBytes`, without creating or filling any: type, shape, row parts (buffer null) and no
 * tensorScale (that is read from the file).
 */
export function planWeights(tensors: readonly GGUFTensorInfo[], sourceName: string, maxBufferBytes: number): GpuWeight<null>[] {
  return tensors.map((t) => {
    const p = planTensor(t, sourceName);
    const parts = planRowParts(p.rows, p.rowBytes, maxBufferBytes, t.name).map((r) => ({ ...r, buffer: null }));
    return { name: t.name, type: p.quant.id, rows: p.rows, cols: p.cols, rowBytes: p.rowBytes, parts };
  });
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
 * Rewrites a stream of a tensor's file rows (pieces of any size, cut anywhere) into its GPU row
 * layout. Each row is cut into segments of `segmentCols` elements (the last takes the rest), a
 * multiple of the layout's segmentElems, which repack independently; a segment cut by a piece
 * boundary waits in `carry`. So memory is a piece plus one segment, whatever the row length.
 */
class SegmentRepacker {
  private readonly segmentCols: number;
  private readonly carry: Uint8Array;
  private carryLength = 0;
  /** Repacked bytes of the current push, reused from push to push. */
  private output = new Uint8Array(0);
  /** Element offset of the next segment within its row. */
  private col = 0;
  constructor(
    private readonly out: AlignedWriter<unknown>,
    private readonly quant: GpuQuantType,
    private readonly layout: GpuRowLayout,
    private readonly cols: number,
    pieceBytes: number,
  ) {
    // Segments of at most a piece (and at least one unit of the layout).
    const perUnit = quant.rowBytes(layout.segmentElems);
    this.segmentCols = Math.min(cols, Math.max(1, Math.floor(pieceBytes / perUnit)) * layout.segmentElems);
    this.carry = new Uint8Array(quant.rowBytes(this.segmentCols));
  }

  /** Elements of the next segment. */
  private nextCols(): number {
    return Math.min(this.segmentCols, this.cols - this.col);
  }

  async push(bytes: Uint8Array): Promise<void> {
    let from = 0;
    if (this.carryLength > 0) {
      const need = this.quant.rowBytes(this.nextCols());
      const take = Math.min(need - this.carryLength, bytes.length);
      this.carry.set(bytes.subarray(0, take), this.carryLength);
      this.carryLength += take;
      from = take;
      if (this.carryLength < need) return;
      this.carryLength = 0;
      await this.out.push(this.repackSegments(this.carry.subarray(0, need)).repacked);
    }
    const { used, repacked } = this.repackSegments(bytes.subarray(from));
    if (repacked.length > 0) await this.out.push(repacked);
    const rest = bytes.length - from - used;
    if (rest > 0) {
      this.carry.set(bytes.subarray(bytes.length - rest));
      this.carryLength = rest;
    }
  }

  /** Repacks the whole segments at the start of `src` into one output, moving the row cursor past them. */
  private repackSegments(src: Uint8Array): { used: number; repacked: Uint8Array } {
    const segments: number[] = [];
    let used = 0;
    let outBytes = 0;
    for (let n = this.nextCols(); used + this.quant.rowBytes(n) <= src.length; n = this.nextCols()) {
      segments.push(n);
      used += this.quant.rowBytes(n);
      outBytes += this.layout.rowBytes(n);
      this.col = (this.col + n) % this.cols;
    }
    // Its output is written before the next push, so one buffer serves every segment run.
    if (this.output.length < outBytes) this.output = new Uint8Array(outBytes);
    const repacked = this.output.subarray(0, outBytes);
    for (let k = 0, i = 0, o = 0; k < segments.length; k++) {
      const n = segments[k]!;
      this.layout.repack(src.subarray(i), n, 1, repacked.subarray(o));
      i += this.quant.rowBytes(n);
      o += this.layout.rowBytes(n);
    }
    return { used, repacked };
  }

  /** Checks that the stream ended on a row boundary (the loader reads whole rows). */
  end(tensorName: string): void {
    if (this.carryLength > 0 || this.col !== 0) throw new ModelFormatError(`tensor "${tensorName}": rows ended mid-row while repacking`);
  }
}

/**
 * Loads tensors from `source` into buffers made by `options.sink`. Returns name → weight in file
 * order. On failure, buffers created so far are destroyed (when the sink can).
 */
export async function loadWeights<B>(source: ByteSource, options: LoadWeightsOptions<B>): Promise<Map<string, GpuWeight<B>>> {
  const { sink, signal } = options;
  const gguf = options.gguf ?? (await readGGUF(source, { signal }));
  const tensors = gguf.tensors.filter((t) => options.filter?.(t) ?? true);
  const plans = tensors.map((t) => planTensor(t, source.name));
  for (const p of plans) {
    const end = p.info.absoluteOffset + p.info.byteSize;
    if (end > source.size) {
      throw new ModelFormatError(
        `${source.name}: tensor "${p.info.name}" ends at byte ${end}, past the end of the file (${source.size} bytes)`,
      );
    }
  }
  const sourceChunk = (source as { chunkSize?: number }).chunkSize;
  const pieceTarget = Math.max(4096, options.pieceBytes ?? Math.min(DEFAULT_PIECE_BYTES, sourceChunk ?? Infinity));
  const flushBytes = options.flushBytes ?? 64 * 1024 * 1024;
  const total = plans.reduce((s, p) => s + p.streamBytes, 0);
  const tracker = new ProgressTracker('upload', source.name, total, options.onProgress);
  const created: B[] = [];
  const out = new Map<string, GpuWeight<B>>();
  let done = 0;
  let sinceFlush = 0;
  tracker.update(0, true);
  const pieces = source.transientReader?.();
  const readPiece = (offset: number, length: number) =>
    pieces ? pieces.read(offset, length, signal) : source.read(offset, length, signal);

  const loadOne = async (p: TensorPlan): Promise<GpuWeight<B>> => {
    const weight: GpuWeight<B> = { name: p.info.name, type: p.quant.id, rows: p.rows, cols: p.cols, rowBytes: p.rowBytes, parts: [] };
    for (const part of planRowParts(p.rows, p.rowBytes, sink.maxBufferBytes, p.info.name)) {
      const size = pad4(part.rowCount * p.rowBytes);
      const buffer = sink.create(`${p.info.name} rows ${part.rowStart}..${part.rowStart + part.rowCount - 1}`, size);
      created.push(buffer);
      weight.parts.push({ buffer, rowStart: part.rowStart, rowCount: part.rowCount });
      const writer = new AlignedWriter(sink, buffer);
      const rowLayout = p.quant.gpu.rowLayout;
      const repacker = rowLayout && new SegmentRepacker(writer, p.quant, rowLayout, p.cols, pieceTarget);
      const start = p.info.absoluteOffset + part.rowStart * p.fileRowBytes;
      const end = start + part.rowCount * p.fileRowBytes;
      // Read the next piece while the current one is written: two pieces in memory at most (a
      // transient read is reused at the next-but-one, by which time its piece is written).
      // Over a chunked store, pieces stop at chunk boundaries so each is a view into a held
      // chunk rather than a copy.
      const read = (at: number) => {
        if (at >= end) return undefined;
        let n = Math.min(pieceTarget, end - at);
        if (sourceChunk) n = Math.min(n, sourceChunk - (at % sourceChunk));
        return readPiece(at, n);
      };
      let next = read(start);
      for (let at = start; at < end;) {
        const bytes = await next!;
        at += bytes.length;
        next = read(at);
        next?.catch(() => {}); // surfaced when awaited; not unhandled if we stop early
        await (repacker ?? writer).push(bytes);
        done += bytes.length;
        sinceFlush += bytes.length;
        tracker.update(done);
        if (sinceFlush >= flushBytes && sink.flush) {
          sinceFlush = 0;
          await sink.flush();
        }
      }
      repacker?.end(p.info.name);
      await writer.end();
    }
    if (p.quant.readTensorParams) {
      const trailer = await readPiece(p.info.absoluteOffset + p.streamBytes, p.quant.trailerBytes);
      weight.tensorScale = p.quant.readTensorParams(trailer).tensorScale;
    }
    return weight;
  };

  try {
    for (const p of plans) {
      signal?.throwIfAborted();
      const bytes = p.streamBytes;
      const weight = sink.guard ? await sink.guard(p.info.name, bytes, () => loadOne(p)) : await loadOne(p);
      out.set(weight.name, weight);
    }
    if (sink.flush) await sink.flush();
  } catch (e) {
    for (const b of created) sink.destroy?.(b);
    throw e;
  } finally {
    pieces?.close();
  }
  tracker.update(done, true);
  return out;
}

/** Sink writing into GPU storage buffers with queue.writeBuffer. */
export function gpuWeightSink(
  device: GPUDevice,
  options: { maxBufferBytes?: number; usage?: GPUBufferUsageFlags } = {},
): WeightSink<GPUBuffer> {
  const limit = maxWeightPartBytes(device);
  return {
    maxBufferBytes: Math.min(options.maxBufferBytes ?? limit, limit),
    create: (label, size) =>
      device.createBuffer({
        label,
        size,
        usage: options.usage ?? GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      }),
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
      if (validation)
        throw new DeviceLimitError(`GPU rejected the buffers of tensor "${tensorName}" (${bytes} bytes): ${validation.message}`);
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
