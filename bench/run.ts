/**
 * `npm run bench` (not a test): one run on the current device prints a markdown table, or with
 * --json one JSON document, of
 *   - kernels: every mat-vec / mat-mul type against a plain read kernel (bench/kernels.ts);
 *   - end to end per fixture model: prefill and decode tokens/s, time to first token, structural
 *     counters of a decode step, and llama.cpp (node-llama-cpp, CPU) on the same prompt;
 *   - memory: GPU bytes (weights, KV cache, scratch) vs file size, peak JS heap during load.
 * The kernel part times every kernel interleaved over rounds; its noise and its headline ratios
 * (each the median of per-round ratios) come along as `kernelNoise` and `kernelRatios`, and each
 * kernel goal against its target, met or missed, as `goals` (bench/lib/goals.ts).
 * Options: --json, --quick (committed fixtures only), --models a,b (only the fixture files whose
 * name contains one of these strings, e.g. `--models IQ4_XS,IQ2_XXS,3M-Q4_0`), --prompt N (128),
 * --decode N (64), --activations auto|f32|int8 (the engine option; default auto), --no-kernels, --no-llama, --browser (also the end-to-end rows in headless
 * Chromium's WebGPU, bench/lib/browser-e2e.ts: `browserE2e` in the JSON, a second table in the
 * markdown), --serve (also lowbit serve's bench, bench/serve.ts: aggregate tok/s with 1, 2 and 4
 * streams and a 10-client load test, `serve` in the JSON). --quantize [--rounds N] [--threads N] benchmarks the CPU quantizers instead
 * (bench/lib/quantize-bench.ts) and nothing else. --scale adds the real-size shapes present in the
 * scale-model cache (bench/lib/scale.ts: load from a store, TTFT, decode tok/s, GPU MB, peak JS heap
 * during load; `scale` in the JSON); --models then selects among them too, e.g.
 * `--scale --no-kernels --models smollm2-135m` for the 135M shapes alone.
 * --autotune: every model load times autotune's candidates (src/kernels/autotune.ts) afresh and
 * the output lists them with their spread and the choice (`autotune` in the JSON); without it the
 * engine's default applies (tuned on a hardware GPU, device defaults on a software adapter).
 * --autotune-budget N: its budget, in decode tokens' time on a software adapter, ms on a GPU.
 * Every e2e / scale row records the kernel variants it ran with (`kernels`).
 * GPU-ready rows (`gpuReady` in the JSON): the roofline per type (mat-vec weights/s ÷ the read
 * kernel's bytes/s) and decode tok/s of the Llama-3.2-1B and BitNet 2B4T shapes, generated into
 * the scale-model cache when absent (minutes, ~2 GB, no download). --gpu-ready auto (default: on
 * a hardware GPU only) | on | off; --gpu-ready-models a,b replaces the two shapes (e.g.
 * smollm2-135m-Q8_0 for a quick run on a software adapter).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { requestNodeGpu } from '../src/gpu/device-node.ts';
import { ACTIVATIONS_OPTIONS, isActivationsOption } from '../src/kernels/matvec-q8.ts';
import { benchBrowser, type BrowserBenchResult } from './lib/browser-e2e.ts';
import { browserE2eTable, deviceLine } from './lib/browser-table.ts';
import { benchLlamaCpp, benchModel, LLAMA_CPP_THREADS, type E2eRow } from './lib/e2e.ts';
import { fmt, markdownTable } from './lib/table.ts';
import { goalsTable, kernelGoals, type KernelRatio } from './lib/goals.ts';
import { serveMarkdown, type ServeBenchDoc } from './lib/serve-table.ts';
import { benchQuantize, quantizeTable } from './lib/quantize-bench.ts';
import { deviceSummary } from './lib/e2e-measure.ts';
import { benchScaleModel, scaleModelsPresent, scaleTable, type ScaleRow } from './lib/scale.ts';
import { readGGUF } from '../src/gguf/index.ts';
import { FileByteSource } from '../src/io/file-byte-source.ts';
import { GGMLType } from '../src/quant/types.ts';
import { describeTuning, type TuneResult } from '../src/kernels/autotune.ts';
import {
  autotuneTable,
  ensureScaleModels,
  GPU_READY_SCALE_MODELS,
  kernelsLabel,
  rooflinePerType,
  type RooflineRow,
} from './lib/autotune.ts';

async function hasTensorType(path: string, type: GGMLType): Promise<boolean> {
  const src = await FileByteSource.open(path);
  try {
    return (await readGGUF(src)).tensors.some((t) => t.typeId === type);
  } finally {
    await src.close();
  }
}

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    models: { type: 'string' },
    prompt: { type: 'string', default: '128' },
    decode: { type: 'string', default: '64' },
    'no-kernels': { type: 'boolean', default: false },
    'no-llama': { type: 'boolean', default: false },
    browser: { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
    activations: { type: 'string', default: 'auto' },
    quantize: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string' },
    scale: { type: 'boolean', default: false },
    autotune: { type: 'boolean', default: false },
    'autotune-budget': { type: 'string' },
    'gpu-ready': { type: 'string', default: 'auto' },
    'gpu-ready-models': { type: 'string' },
  },
});
if (!['auto', 'on', 'off'].includes(args['gpu-ready'])) throw new Error(`--gpu-ready: expected auto, on or off, got ${args['gpu-ready']}`);
const autotuneBudget = args['autotune-budget'] === undefined ? undefined : Number(args['autotune-budget']);
if (autotuneBudget !== undefined && !(autotuneBudget >= 0 && Number.isFinite(autotuneBudget)))
  throw new Error(`--autotune-budget ${args['autotune-budget']}: a number ≥ 0`);
if (!isActivationsOption(args.activations))
  throw new Error(`--activations: expected one of ${ACTIVATIONS_OPTIONS.join(', ')}, got ${args.activations}`);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (s: string) => process.stderr.write(s + '\n');

// --quantize: the CPU quantizers only (no GPU), then exit.
if (args.quantize) {
  const rounds = Number(args.rounds);
  const threads = args.threads === undefined ? undefined : Number(args.threads);
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error(`--rounds ${args.rounds}: a positive integer`);
  if (threads !== undefined && !(Number.isSafeInteger(threads) && threads >= 1))
    throw new Error(`--threads ${args.threads}: a positive integer`);
  const result = await benchQuantize({ rounds, threads, log });
  const cpu = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`;
  if (args.json)
    process.stdout.write(JSON.stringify({ cpu, node: process.version, date: new Date().toISOString(), ...result }, null, 1) + '\n');
  else {
    process.stdout.write(
      `Quantizers on ${cpu}, Node ${process.version}: median of ${rounds} interleaved rounds (min–max)\n\n${quantizeTable(result)}\n`,
    );
  }
  process.exit(0);
}

function fixtureModels(): string[] {
  const committed = [
    join(root, 'public/models/tinystories-llama-3M-Q4_K_M.gguf'),
    ...readdirSync(join(root, 'test/fixtures/models'))
      .filter((f) => f.endsWith('.gguf'))
      .map((f) => join(root, 'test/fixtures/models', f)),
  ];
  const shared = resolve(root, process.env.LOWBIT_SHARED_FIXTURES ?? '../shared/fixtures');
  if (args.quick || !existsSync(join(shared, 'models/trained-here'))) return committed;
  const seen = new Set(committed.map((p) => p.split('/').pop()));
  const extra: string[] = [];
  for (const dir of ['stories260K', 'derived-quantized', 'TinyStories-656K', 'trained-here']) {
    for (const f of readdirSync(join(shared, 'models', dir))) {
      if (f.endsWith('.gguf') && !seen.has(f)) extra.push(join(shared, 'models', dir, f));
    }
  }
  // Of the nine importance-quantized files, one near 4 bits and one near 2 bits: the others share
  // their shape and differ only in the block decoder, which the kernel rows already cover.
  for (const f of ['tinystories-llama-3M-IQ4_XS.gguf', 'tinystories-llama-3M-IQ2_XXS.gguf']) {
    const path = join(shared, 'models/importance-quantized', f);
    if (existsSync(path)) extra.push(path);
  }
  return [...committed, ...extra];
}

/** The models --models keeps (each file name must contain one of its comma-separated strings). */
function selectModels(paths: string[]): string[] {
  if (args.models === undefined) return paths;
  const wanted = args.models
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return paths.filter((p) => wanted.some((w) => p.split('/').pop()!.includes(w)));
}

// Before the device and the kernel rows, so a --models that matches nothing fails at once.
const fixtures = fixtureModels();
const models = selectModels(fixtures);
const scaleModels = args.scale ? selectModels(scaleModelsPresent(root)) : [];
if (models.length === 0 && scaleModels.length === 0) {
  const have = [...fixtures, ...(args.scale ? scaleModelsPresent(root) : [])].map((p) => p.split('/').pop()).join(', ');
  throw new Error(`--models ${args.models}: no ${args.scale ? 'fixture or scale' : 'fixture'} model matches (have: ${have})`);
}
const ctx = await requestNodeGpu({ warn: log });
const device = {
  ...deviceSummary(ctx),
  cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
  node: process.version,
  date: new Date().toISOString(),
};

let kernels: unknown[] = [];
let readKernelGbPerSec: number | undefined;
/** The kernel bench's own noise and its headline ratios, each the median of interleaved rounds. */
let kernelNoise: { rounds: number; mad: number; madMax: number } | undefined;
let kernelRatios: KernelRatio[] = [];
if (!args['no-kernels']) {
  log('kernels …');
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      join(root, 'src/node/register.js'),
      join(root, 'bench/kernels.ts'),
      '--json',
      '--rows',
      '1024',
      '--cols',
      '1024',
      '--mm-rows',
      '512',
      '--mm-cols',
      '512',
      '--tokens',
      '32',
    ],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 26,
    },
  );
  const parsed = JSON.parse(out) as {
    kernels: unknown[];
    readKernelGbPerSec: number;
    noise: NonNullable<typeof kernelNoise>;
    ratios: KernelRatio[];
  };
  kernels = parsed.kernels;
  readKernelGbPerSec = parsed.readKernelGbPerSec;
  kernelNoise = parsed.noise;
  kernelRatios = parsed.ratios;
}

const e2e: E2eRow[] = [];
/** --autotune: what autotune timed for each model load, in order. */
const autotuned: ({ model: string } & TuneResult)[] = [];
let loading = '';
const opts = {
  promptTokens: Number(args.prompt),
  decodeTokens: Number(args.decode),
  activations: args.activations,
  ...(args.autotune
    ? {
        autotune: 'on' as const,
        autotuneBudget: ctx.isSoftware ? { tokens: autotuneBudget } : { ms: autotuneBudget },
        onAutotune: (r: TuneResult) => {
          autotuned.push({ model: loading, ...r });
          log(`  ${describeTuning(r)}`);
        },
      }
    : {}),
};
for (const path of models) {
  loading = path.split('/').pop()!;
  log(`e2e ${path.split('/').pop()} …`);
  try {
    const row = await benchModel(ctx, path, opts);
    // llama.cpp cannot load BitNet's I2_S (type 36) and prints its refusal on stdout: skip it.
    const llamaCanLoad = !(await hasTensorType(path, GGMLType.I2_S));
    if (!args['no-llama'] && llamaCanLoad) row.llamaCpp = await benchLlamaCpp(path, opts).catch(() => undefined);
    e2e.push(row);
  } catch (e) {
    log(`  skipped: ${(e as Error).message}`);
  }
}
const scale: ScaleRow[] = [];
for (const path of scaleModels) {
  loading = path.split('/').pop()!;
  log(`scale ${path.split('/').pop()} …`);
  try {
    scale.push(await benchScaleModel(ctx, path, opts));
  } catch (e) {
    log(`  skipped: ${(e as Error).message}`);
  }
}
// GPU-ready rows: the roofline per type from the kernel rows, and decode tok/s at the real 1B and 2B4T shapes.
let gpuReady: { rooflinePerType: RooflineRow[]; decode: ScaleRow[]; seconds: number } | undefined;
if (args['gpu-ready'] === 'on' || (args['gpu-ready'] === 'auto' && !ctx.isSoftware)) {
  const t0 = performance.now();
  const names = args['gpu-ready-models']?.split(',').map((n) => n.trim()) ?? [...GPU_READY_SCALE_MODELS];
  const decode: ScaleRow[] = [];
  for (const path of await ensureScaleModels(root, names, log)) {
    loading = path.split('/').pop()!;
    log(`gpu-ready ${loading} …`);
    try {
      decode.push(await benchScaleModel(ctx, path, opts));
    } catch (e) {
      log(`  skipped: ${(e as Error).message}`);
    }
  }
  const roofline = readKernelGbPerSec ? rooflinePerType(kernels as Parameters<typeof rooflinePerType>[0], readKernelGbPerSec) : [];
  gpuReady = { rooflinePerType: roofline, decode, seconds: (performance.now() - t0) / 1000 };
}
const kernelsOfRows = [...e2e, ...scale, ...(gpuReady?.decode ?? [])].map((r) => ({
  model: r.model,
  kernels: kernelsLabel(ctx, r.kernels),
}));
ctx.device.destroy();

// After Dawn's device is gone, so the two do not compete for the CPU (SwiftShader).
const browser: BrowserBenchResult | undefined = args.browser ? await benchBrowser(models, opts, log) : undefined;

/** lowbit serve's bench in its own process (its own device), its markdown and its JSON. */
function benchServe(): { markdown: string; json: unknown } {
  log('serve …');
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', join(root, 'src/node/register.js'), join(root, 'bench/serve.ts'), '--json'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
  );
  const json = JSON.parse(out) as ServeBenchDoc;
  return { json, markdown: serveMarkdown(json) };
}
const serve = args.serve ? benchServe() : undefined;

const memory = e2e.map((r) => ({
  model: r.model,
  fileBytes: r.fileBytes,
  gpuWeightBytes: r.gpuBytes.weights,
  gpuKvCacheBytes: r.gpuBytes.kvCache,
  gpuScratchBytes: r.gpuBytes.scratch,
  gpuWeightsOverFile: r.gpuBytes.weights / r.fileBytes,
  peakJsHeapDuringLoadBytes: r.peakJsHeapDuringLoadBytes,
}));
const goals = kernelGoals(kernelRatios, e2e, opts.decodeTokens);
const doc = {
  device,
  llamaCppThreads: LLAMA_CPP_THREADS,
  kernels,
  readKernelGbPerSec,
  kernelNoise,
  kernelRatios,
  goals,
  e2e,
  memory,
  ...(args.scale ? { scale } : {}),
  ...(args.autotune ? { autotune: autotuned } : {}),
  ...(gpuReady ? { gpuReady } : {}),
  ...(browser ? { browserDevice: browser.device, browserE2e: browser.e2e } : {}),
  ...(serve ? { serve: serve.json } : {}),
};

if (args.json) {
  process.stdout.write(JSON.stringify(doc, null, 1) + '\n');
} else {
  const d = device;
  const lines: string[] = [];
  lines.push(
    `Device: ${d.vendor} ${d.architecture} (${d.description})${d.software ? ', software' : ''}; f16 ${d.hasF16}, subgroups ${d.hasSubgroups}; CPU ${d.cpu}; ${d.date.slice(0, 10)}`,
  );
  if (kernels.length) {
    lines.push('', `Kernels (read kernel ${fmt(readKernelGbPerSec ?? 0)} GB/s; ms/call is the median of interleaved rounds):`, '');
    if (kernelNoise) {
      lines.push(
        `noise: the same kernel timed in ${kernelNoise.rounds} interleaved rounds varies ±${(kernelNoise.mad * 100).toFixed(1)}% (median absolute deviation; worst ±${(kernelNoise.madMax * 100).toFixed(1)}%)`,
        '',
      );
    }
    const ks = kernels as {
      op: string;
      type: string;
      rows: number;
      cols: number;
      tokens: number;
      msPerCall: number;
      gbPerSec: number;
      rooflineRatio: number;
      weightsPerSec: number;
      variant: string;
    }[];
    lines.push(
      markdownTable(
        ['op', 'type', 'shape', 'variant', 'ms/call', 'GB/s', 'roofline', 'Gweights/s'],
        ks.map((k) => [
          k.op,
          k.type,
          `${k.rows}×${k.cols}×${k.tokens}`,
          k.variant,
          fmt(k.msPerCall),
          fmt(k.gbPerSec),
          fmt(k.rooflineRatio),
          fmt(k.weightsPerSec / 1e9),
        ]),
      ),
    );
  }
  lines.push(
    '',
    `End to end (${opts.promptTokens}-token prompt, ${opts.decodeTokens} decoded; llama.cpp CPU ${LLAMA_CPP_THREADS} thread):`,
    '',
  );
  lines.push(
    markdownTable(
      [
        'model',
        'prefill tok/s',
        'decode tok/s',
        'TTFT ms',
        'llama.cpp prefill',
        'llama.cpp decode',
        'decode ratio',
        'submits/step',
        'dispatches/step',
        'dispatches/layer',
        'readback B/step',
        'new objects/step',
        'weights read/quantized',
      ],
      e2e.map((r) => [
        r.model,
        fmt(r.prefillTokensPerSec),
        fmt(r.decodeTokensPerSec),
        fmt(r.timeToFirstTokenMs),
        r.llamaCpp ? fmt(r.llamaCpp.prefillTokensPerSec) : '—',
        r.llamaCpp ? fmt(r.llamaCpp.decodeTokensPerSec) : '—',
        r.llamaCpp ? fmt(r.decodeTokensPerSec / r.llamaCpp.decodeTokensPerSec) : '—',
        fmt(r.submissionsPerStep),
        fmt(r.dispatchesPerStep),
        fmt(r.dispatchesPerLayer),
        fmt(r.readbackBytesPerStep),
        fmt(r.newGpuObjectsPerStep),
        fmt(r.weightBytesReadPerStep / r.weightBytes),
      ]),
    ),
  );
  if (goals.length) {
    lines.push('', 'Kernel goals (each ratio from this run):', '', goalsTable(goals));
  }
  if (browser) {
    lines.push('', `End to end in Chromium (${deviceLine(browser.device)}):`, '', browserE2eTable(browser.e2e));
  }
  if (serve) lines.push('', serve.markdown);
  lines.push('', 'Memory:', '');
  lines.push(
    markdownTable(
      ['model', 'file MB', 'GPU weights MB', 'KV cache MB', 'scratch MB', 'peak JS heap in load MB'],
      memory.map((m) => [
        m.model,
        fmt(m.fileBytes / 1e6),
        fmt(m.gpuWeightBytes / 1e6),
        fmt(m.gpuKvCacheBytes / 1e6),
        fmt(m.gpuScratchBytes / 1e6),
        fmt(m.peakJsHeapDuringLoadBytes / 1e6),
      ]),
    ),
  );
  if (args.scale) {
    lines.push(
      '',
      `Real-size models (random weights at the published shapes; loaded from a store of ${scale[0] ? fmt(scale[0].chunkBytes / 2 ** 20, 0) : '—'} MiB chunks; TTFT for a ${opts.promptTokens}-token prompt):`,
      '',
      scaleTable(scale),
    );
  }
  if (gpuReady) {
    lines.push(
      '',
      `GPU-ready rows (${fmt(gpuReady.seconds, 0)} s): roofline per type (read kernel ${fmt(readKernelGbPerSec ?? 0)} GB/s)`,
      '',
    );
    lines.push(
      markdownTable(
        ['type', 'activations', 'Gweights/s', 'weights per read byte', 'roofline (bytes/s ÷ read)'],
        gpuReady.rooflinePerType.map((r) => [
          r.type,
          r.activations,
          fmt(r.weightsPerSec / 1e9),
          fmt(r.weightsPerReadByte),
          fmt(r.rooflineRatio),
        ]),
      ),
    );
    lines.push('', 'GPU-ready decode at real shapes:', '', scaleTable(gpuReady.decode));
  }
  if (args.autotune) {
    for (const r of autotuned) {
      lines.push('', `Autotune, ${r.model}: ${describeTuning(r)}`, '', autotuneTable(r));
    }
  }
  lines.push(
    '',
    'Kernel variants per row:',
    '',
    markdownTable(
      ['model', 'kernels'],
      kernelsOfRows.map((r) => [r.model, r.kernels]),
    ),
  );
  process.stdout.write(lines.join('\n') + '\n');
}
process.exit(0);
