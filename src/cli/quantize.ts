/**
 * `lowbit quantize in.gguf out.gguf --type T`: llama-quantize's job in lowbit. The same per-tensor
 * type rules and reference quantizers, so the output is byte-identical to llama-quantize's for the
 * same input and options; streamed (memory bounded by a few chunks per thread) and spread over
 * worker threads. The output goes to a temporary file beside the target, renamed into place only
 * when complete: a failure (bad input, full disk, Ctrl-C) leaves no partial model behind. With
 * --imatrix the types whose llama.cpp quantizer takes importance weights use them, as
 * llama-quantize --imatrix does.
 */
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { readGGUF } from '../gguf/reader.ts';
import { planGGUF, writeGGUF } from '../gguf/writer.ts';
import { FileByteSource } from '../io/file-byte-source.ts';
import { RateMeter } from '../io/progress.ts';
import { allFileTypes, fileTypeByName, type FileType } from '../quant/mixture.ts';
import { NodeQuantizePool } from '../quant/node-quantize-pool.ts';
import { readImatrix } from '../quant/imatrix.ts';
import { quantizeModel, type ImatrixInput } from '../quant/quantize-model.ts';
import type { QuantizeRunner } from '../quant/quantize-stream.ts';
import { quantLayoutByName } from '../quant/types.ts';
import { formatBytes } from '../format.ts';
import { UsageError } from './errors.ts';
import { numberOption, parseCommand } from './options.ts';
import { formatDuration } from './progress-line.ts';
import { escapeControl } from './terminal-text.ts';

const HELP = `Usage: lowbit quantize <in.gguf> <out.gguf> --type T [options]

Quantize a GGUF model (F32, F16, BF16 or Q8_0 weights) with llama.cpp's per-tensor type rules
and reference quantizers: the output is byte-identical to llama-quantize's for the same input and
options. Runs on every core; memory stays bounded whatever the model size.

Types: ${allFileTypes()
  .map((f) => f.name)
  .join(' ')} (aliases Q3_K, Q4_K, Q5_K)

Options:
  --type T                  the mixture to write (required)
  --pure                    every quantizable tensor gets T's base type (llama-quantize --pure)
  --output-type T           type of output.weight (a tensor type such as Q8_0, Q6_K, F16)
  --token-embedding-type T  type of token_embd.weight
  --imatrix FILE            importance matrix (GGUF from lowbit imatrix or llama-imatrix, or a
                            legacy .dat): Q2_K…Q6_K, Q4_0, Q4_1, Q5_0 and Q5_1 tensors weigh their
                            rounding error with it, as llama-quantize --imatrix does
  --threads N               worker threads (default: all cores)
  -q, --quiet               no progress line
  -h, --help                show this help

Exit status: 0 on success; 2 on bad input or a write failure; 130 when interrupted. In every
failure case no output file (and no temporary file) is left.
`;

/** Where the bytes go; the default is a file, tests substitute a failing one. */
export interface OutputSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export async function fileSink(path: string): Promise<OutputSink> {
  const handle = await open(path, 'wx');
  return {
    async write(chunk) {
      let done = 0;
      while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
    },
    close: () => handle.close(),
  };
}

export interface QuantizeFileOptions {
  fileType: FileType;
  pure?: boolean;
  outputType?: number;
  tokenEmbeddingType?: number;
  /** Path of an importance matrix (recorded in the output as given, as llama-quantize does). */
  imatrix?: string;
  threads?: number;
  /** Runs the quantize jobs; default: a worker-thread pool of `threads` threads, closed at the end. */
  runner?: QuantizeRunner;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Opens the temporary output; defaults to a new file. */
  openSink?: (path: string) => Promise<OutputSink>;
  /** Stops the run (Ctrl-C): the temporary file is removed and nothing is left behind. */
  signal?: AbortSignal;
}

export interface QuantizeFileResult {
  bytes: number;
  tensors: number;
  requantized: number;
}

/** Quantize `inPath` into `outPath` (via a temporary file renamed at the end). */
export async function quantizeFile(inPath: string, outPath: string, opts: QuantizeFileOptions): Promise<QuantizeFileResult> {
  if (resolve(inPath) === resolve(outPath)) throw new UsageError('the output must be a different file from the input');
  const source = await FileByteSource.open(inPath);
  let pool: NodeQuantizePool | undefined;
  const tmpPath = join(dirname(outPath), `.${basename(outPath)}.${process.pid}.${Date.now().toString(36)}.part`);
  let sink: OutputSink | undefined;
  try {
    const file = await readGGUF(source);
    const imatrix = opts.imatrix === undefined ? undefined : await loadImatrix(opts.imatrix);
    if (!opts.runner) pool = new NodeQuantizePool(opts.threads);
    const model = quantizeModel(file, source, {
      fileType: opts.fileType,
      pure: opts.pure,
      outputType: opts.outputType,
      tokenEmbeddingType: opts.tokenEmbeddingType,
      runner: opts.runner ?? pool!,
      signal: opts.signal,
      imatrix,
    });
    const plan = planGGUF(model.spec);
    sink = await (opts.openSink ?? fileSink)(tmpPath);
    let written = 0;
    try {
      for await (const chunk of writeGGUF(plan)) {
        opts.signal?.throwIfAborted();
        await sink.write(chunk);
        written += chunk.length;
        opts.onProgress?.(written, plan.totalSize);
      }
    } finally {
      const s = sink;
      sink = undefined;
      await s.close();
    }
    await rename(tmpPath, outPath);
    return { bytes: written, tensors: model.plan.length, requantized: model.plan.filter((p) => p.requantize).length };
  } catch (e) {
    if (sink) await sink.close().catch(() => {});
    await unlink(tmpPath).catch(() => {});
    throw e;
  } finally {
    await pool?.close();
    await source.close();
  }
}

/** Reads the importance matrix at `path` (either format); the file is closed before quantizing. */
async function loadImatrix(path: string): Promise<ImatrixInput> {
  const source = await FileByteSource.open(path);
  try {
    return { matrix: await readImatrix(source), fileName: path };
  } finally {
    await source.close();
  }
}

/** The in-place progress line on a terminal: bar, output bytes written, rate and time left. */
function progressLine(name: string): { update(done: number, total: number): void; done(): void } {
  const meter = new RateMeter();
  let last = 0;
  let drawn = false;
  return {
    update(done, total) {
      const rate = meter.sample(done);
      const now = performance.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const bar = `[${'#'.repeat(Math.round(frac * 24)).padEnd(24, '-')}]`;
      const eta = rate > 0 && done < total ? `, ETA ${formatDuration((total - done) / rate)}` : '';
      process.stderr.write(
        `\r\x1b[2K${escapeControl(name)} ${bar} quantize ${(100 * frac).toFixed(1)}% ${formatBytes(done)} / ${formatBytes(total)}${eta}`,
      );
      drawn = true;
    },
    done() {
      if (drawn) process.stderr.write('\n');
    },
  };
}

function tensorTypeOption(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const layout = quantLayoutByName(value);
  if (!layout) throw new UsageError(`${option}: unknown tensor type '${escapeControl(value.slice(0, 40))}'`);
  return layout.id;
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'quantize',
    help: HELP,
    options: {
      type: { type: 'string' },
      pure: { type: 'boolean' },
      'output-type': { type: 'string' },
      'token-embedding-type': { type: 'string' },
      imatrix: { type: 'string' },
      threads: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
    },
    positionals: { min: 2, max: 2, text: 'takes an input and an output file' },
  });
  if (!parsed) return 0;
  const v = parsed.values;
  if (v.type === undefined) throw new UsageError('--type is required (see lowbit quantize --help)');
  const fileType = fileTypeByName(v.type);
  const [inPath, outPath] = parsed.positionals as [string, string];
  const line = !v.quiet && process.stderr.isTTY ? progressLine(basename(outPath)) : undefined;
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = performance.now();
  let result: QuantizeFileResult;
  try {
    result = await quantizeFile(inPath, outPath, {
      fileType,
      pure: v.pure,
      outputType: tensorTypeOption(v['output-type'], '--output-type'),
      tokenEmbeddingType: tensorTypeOption(v['token-embedding-type'], '--token-embedding-type'),
      imatrix: v.imatrix,
      threads: numberOption(v.threads, '--threads'),
      onProgress: line?.update,
      signal: interrupt.signal,
    });
  } catch (e) {
    if (!interrupt.signal.aborted) throw e;
    process.stderr.write('interrupted; no output written\n');
    return 130;
  } finally {
    line?.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const seconds = (performance.now() - started) / 1000;
  if (!v.quiet) {
    process.stderr.write(
      `${escapeControl(outPath)}: ${fileType.name}, ${formatBytes(result.bytes)}, ${result.requantized} of ${result.tensors} tensors quantized in ${seconds.toFixed(1)} s\n`,
    );
  }
  return 0;
}
