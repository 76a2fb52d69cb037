/** `lowbit pull <url|file>`: download (or import) a model into the file-system store, resumably. */
import { stat } from 'node:fs/promises';
import { downloadModel } from '../storage/download.ts';
import { importPath } from '../storage/import-node.ts';
import { formatBytes } from '../format.ts';
import { checkModelName, DEFAULT_CHUNK_SIZE, defaultModelName, storedBytes, type ModelManifest } from '../storage/store.ts';
import { UsageError } from './errors.ts';
import { NUMBER_OPTIONS, numberOption as num, parseCommand } from './options.ts';
import { ProgressPrinter } from './progress-line.ts';
import { openStore, STORE_HELP, STORE_OPTION } from './store-arg.ts';
import { escapeControl } from './terminal-text.ts';

const HELP = `Usage: lowbit pull <url|file> [--name NAME] [--sha256 HEX] [--store DIR]

Download a GGUF model over HTTP(S) (Range requests, 3 chunks in flight) or import a local file
into the model store. Interrupted pulls (Ctrl-C, a lost connection, a crash) continue where they
stopped when the same command is run again; a file that changed on the server restarts cleanly.
The model is usable (lowbit run/inspect NAME) once complete and checked: chunk checksums always,
and the file's sha256 when --sha256 gives it ("verified").

Options:
  --name NAME        name in the store (default: the file name)
  --sha256 HEX       expected sha256 of the whole file; checked before the model counts as present
  --verify           re-check a model that is already present (chunk checksums, sha256 if known)
  --chunk-mib N      chunk size for a new download in MiB (default ${DEFAULT_CHUNK_SIZE / 1024 / 1024}; a multiple of 1/256)
  --concurrency N    chunks in flight (default 3)
  --timeout S        give up on a request after S seconds without data, or without 64 KiB of it,
                     then retry (default 60)
  --max-bytes N      refuse a file larger than N bytes (default 1 TiB; 64 GiB when the server
                     does not state the size, and then the GGUF's own header bounds it too)
${STORE_HELP}
  -q, --quiet        no progress output
  -h, --help         show this help

Exit status: 0 when the model is complete and checked; 2 on a download, integrity or storage
error (one "error: ..." line); 130 when interrupted (the partial model is kept).
`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'pull',
    help: HELP,
    options: {
      ...STORE_OPTION,
      name: { type: 'string' },
      sha256: { type: 'string' },
      verify: { type: 'boolean' },
      'chunk-mib': { type: 'string' },
      concurrency: { type: 'string' },
      'max-bytes': { type: 'string' },
      timeout: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
    },
    positionals: { min: 1, max: 1, text: 'takes one URL or file' },
  });
  if (!parsed) return 0;
  const o = parsed.values;
  const target = parsed.positionals[0]!;
  const chunkMib = num(o['chunk-mib'], '--chunk-mib');
  const chunkSize = chunkMib === undefined ? undefined : chunkMib * 1024 * 1024;
  if (chunkSize !== undefined && !(chunkSize >= 4096 && chunkSize % 4096 === 0)) {
    throw new UsageError(`--chunk-mib must be ${NUMBER_OPTIONS['--chunk-mib']!.text}, got '${o['chunk-mib']}'`);
  }
  const concurrency = num(o.concurrency, '--concurrency');
  const maxBytes = num(o['max-bytes'], '--max-bytes');
  const timeoutSeconds = num(o.timeout, '--timeout');
  const idleTimeoutMs = timeoutSeconds === undefined ? undefined : Math.ceil(timeoutSeconds * 1000);
  const isUrl = /^https?:\/\//i.test(target);
  const fileInfo = isUrl ? undefined : await stat(target).catch(() => undefined);
  if (!isUrl && !fileInfo?.isFile()) throw new UsageError(`${target} is neither an http(s) URL nor an existing file`);

  const store = openStore(o.store);
  // Same default as the downloader/importer: the URL's or file's name.
  const name = o.name ?? defaultModelName(target);
  try {
    checkModelName(name);
  } catch (e) {
    throw new UsageError(
      `${(e as Error).message}${o.name === undefined ? ' (derived from the URL or file name; choose one with --name)' : ''}`,
    );
  }
  const printer = new ProgressPrinter();
  const onProgress = o.quiet ? undefined : (r: Parameters<ProgressPrinter['update']>[0]) => printer.update(r);
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let manifest: ModelManifest;
  try {
    if (o.verify) {
      const existing = await store.getManifest(name);
      if (existing?.verified) {
        existing.verified = false;
        await store.putManifest(existing);
      }
    }
    const common = { name, sha256: o.sha256, chunkSize, signal: controller.signal, onProgress };
    manifest = isUrl
      ? await downloadModel({ ...common, store, url: target, concurrency, maxBytes, idleTimeoutMs })
      : await importPath(store, target, common);
  } catch (e) {
    printer.done();
    if (interrupted) {
      const m = await store.getManifest(name).catch(() => undefined);
      const kept = m ? ` (${formatBytes(storedBytes(m))} of ${formatBytes(m.size)} kept)` : '';
      process.stderr.write(`interrupted${kept}; run the same command again to resume\n`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  printer.done();
  const sha = manifest.actualSha256 ? `, sha256 ${manifest.actualSha256}` : '';
  // "Verified" only when a sha256 was compared: chunk CRC-32s catch corruption at rest, not a wrong file.
  const state = manifest.sha256 ? 'complete and verified' : 'complete (no checksum given)';
  process.stdout.write(`${escapeControl(manifest.name)}: ${state}, ${formatBytes(manifest.size)} (${manifest.size} bytes)${sha}\n`);
  return 0;
}
