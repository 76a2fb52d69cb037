/**
 * `lowbit serve <model>`: an OpenAI-compatible HTTP server (src/server/) over the engine on Dawn.
 * It listens at once and loads the model behind it (/health says loading, then ready or error);
 * SIGINT or SIGTERM stops it: running generations are aborted, their replies end, exit status 0.
 */
import { loadEngine } from '../engine/engine.ts';
import { LIMITS_TIERS } from '../gpu/device.ts';
import { requestNodeGpu, type AdapterChoice } from '../gpu/device-node.ts';
import { ACTIVATIONS_OPTIONS } from '../kernels/matvec-q8.ts';
import { createLowbitServer, isLoopbackHost } from '../server/server.ts';
import { UsageError } from './errors.ts';
import { resolveModelSource } from './model-arg.ts';
import { numberOption as num, parseCommand, choiceOption, maxGpuBytesOption } from './options.ts';
import { openStore } from './store-arg.ts';
import { escapeControl } from './terminal-text.ts';
import { describeTuning } from '../kernels/autotune.ts';
import { AUTOTUNE_OPTIONS } from '../engine/kernel-choice.ts';

const HELP = `Usage: lowbit serve <model> [options]

Serves <model> (a .gguf path or a stored model's name) over HTTP with OpenAI's API:
POST /v1/chat/completions, POST /v1/completions (both with "stream": true for SSE),
GET /v1/models, and GET /health (loading, ready or error).

Options:
  --host H            address to listen on (default 127.0.0.1: this machine only, and then only
                      requests addressed to localhost, 127.x.y.z or [::1] are answered)
  --port P            port (default 8080; 0 picks a free one)
  --ctx N             context size in tokens per conversation (default min(model, 2048))
  --parallel N        conversations served at once, each with its own KV cache (default 1)
  --queue N           requests that may wait for a free conversation slot before the next
                      gets 429 (default 4 × --parallel)
  --api-key KEY       require "Authorization: Bearer KEY" on /v1 (also LOWBIT_API_KEY, which
                      keeps the key out of the process list)
  --cors-origin O     let pages from origin O (e.g. https://example.com) call the server; repeat
                      for more. Requests from any other origin are refused.
  --adapter A         auto | hardware | swiftshader (default auto; also LOWBIT_ADAPTER)
  --limits L          adapter | default | mobile: GPU limits to run under (default adapter)
  --activations A     auto | f32 | int8 | ggml: what decode's mat-vecs read (default auto: int8 where
                      the GPU has int8 dot products, else f32; ggml: round as llama.cpp's CPU
                      backend does, a parity mode)
  --batch-decode B    on | off | auto: with --parallel above 1, decode the conversations together,
                      one GPU submission per step for all of them, each weight read once for all
                      (default auto: on)
  --autotune M        auto | on | off | retune: time the kernel variants on this GPU and model and
                      keep the fastest, cached in the store per adapter and model shapes, so a
                      restart re-uses them (default auto: on a hardware GPU, off on a software
                      adapter; retune: ignore the cache)
  --max-gpu-mb N      refuse, before allocating, a model (with all its slots) over N MiB of GPU memory
  --store DIR         model store directory (see lowbit pull --help), also where tuned kernel
                      variants are kept
  -h, --help          show this help
`;

export const BATCH_DECODE_OPTIONS = ['auto', 'on', 'off'] as const;

/** `origin` as a browser sends it (scheme://host[:port], nothing after), or a UsageError. */
function checkOrigin(origin: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(origin);
  } catch {
    parsed = undefined;
  }
  if (!parsed || parsed.origin === 'null' || parsed.origin !== origin) {
    throw new UsageError(
      `--cors-origin must be an origin such as https://example.com (scheme, host, optional port, no path), got '${origin}'`,
    );
  }
  return origin;
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'serve',
    help: HELP,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      ctx: { type: 'string' },
      parallel: { type: 'string' },
      queue: { type: 'string' },
      'api-key': { type: 'string' },
      'cors-origin': { type: 'string', multiple: true },
      adapter: { type: 'string' },
      limits: { type: 'string' },
      activations: { type: 'string' },
      'batch-decode': { type: 'string' },
      autotune: { type: 'string' },
      'max-gpu-mb': { type: 'string' },
      store: { type: 'string' },
    },
    positionals: { min: 1, max: 1, text: 'needs exactly one model' },
  });
  if (!parsed) return 0;
  const v = parsed.values;
  const host = v.host ?? '127.0.0.1';
  if (host === '') throw new UsageError('--host must not be empty');
  const port = num(v.port, '--port', 8080);
  const contextSize = num(v.ctx, '--ctx');
  const parallel = num(v.parallel, '--parallel', 1);
  const maxQueue = num(v.queue, '--queue', 4 * parallel);
  const apiKey = v['api-key'] ?? (process.env.LOWBIT_API_KEY || undefined);
  if (apiKey !== undefined && apiKey.trim() === '') throw new UsageError('--api-key must not be empty');
  const corsOrigins = (v['cors-origin'] ?? []).map(checkOrigin);
  const limits = choiceOption(v.limits, '--limits', LIMITS_TIERS);
  const maxGpuBytes = maxGpuBytesOption(v['max-gpu-mb']);
  const activations = choiceOption(v.activations, '--activations', ACTIVATIONS_OPTIONS);
  const batchDecode = choiceOption(v['batch-decode'], '--batch-decode', BATCH_DECODE_OPTIONS);
  const autotune = choiceOption(v.autotune, '--autotune', AUTOTUNE_OPTIONS);

  const model = await resolveModelSource(parsed.positionals[0]!, v.store);
  // Bound to loopback, the server is for this machine: requests naming another host are a page
  // that rebound its domain to 127.0.0.1 (DNS rebinding), and are refused.
  const server = createLowbitServer({ apiKey, corsOrigins, maxQueue, loopbackHostsOnly: isLoopbackHost(host) });
  let stopping: Promise<void> | null = null;
  const loadAbort = new AbortController();
  let onSignal = (_signal: string) => {};
  const stopped = new Promise<void>((resolve) => {
    onSignal = (signal: string) => {
      if (stopping) return;
      process.stderr.write(`lowbit serve: ${signal}: stopping (running generations are aborted)\n`);
      loadAbort.abort(new Error(`stopped by ${signal} while loading`));
      stopping = server.shutdown().then(resolve);
    };
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const address = await server.listen(port, host);
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    process.stderr.write(`lowbit serve: listening on http://${shown}:${address.port} (loading ${escapeControl(model.label)})\n`);
    const gpu = await requestNodeGpu({ adapter: v.adapter as AdapterChoice | undefined, limits });
    try {
      let engine;
      try {
        engine = await loadEngine(model.source, {
          gpu,
          contextSize,
          slots: parallel,
          activations,
          batchDecode: batchDecode === 'on' ? true : batchDecode === 'off' ? false : undefined,
          // Tuned kernel variants are kept in the store per adapter and model shapes, as `lowbit run`
          // keeps them: a hardware GPU tunes at its first start, not at every one.
          autotune,
          autotuneCache: openStore(v.store),
          onAutotune: (r) => {
            if (r.source === 'measured') process.stderr.write(`lowbit serve: ${describeTuning(r)}\n`);
          },
          signal: loadAbort.signal,
          maxGpuBytes,
        });
      } catch (e) {
        if (loadAbort.signal.aborted) return 0; // a signal while loading: a clean stop
        server.setError(e as Error);
        throw e;
      }
      try {
        for (const w of engine.info.warnings ?? []) process.stderr.write(`lowbit: warning: ${escapeControl(w)}\n`);
        server.setEngine(engine);
        const together = parallel < 2 ? '' : engine.batchedDecode ? ' (decoding together)' : ' (each its own steps)';
        process.stderr.write(
          `lowbit serve: ready: ${escapeControl(engine.info.name)}, ${parallel} slot(s) × ${engine.info.contextSize} tokens${together}; ${escapeControl(engine.info.adapter)}\n`,
        );
        await stopped;
      } finally {
        await engine.dispose();
      }
    } finally {
      gpu.device.destroy();
    }
  } finally {
    // A failed load stops the server too: a model that cannot load will not serve later.
    await (stopping ?? server.shutdown());
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await model.close();
  }
  return 0;
}
