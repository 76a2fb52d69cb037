/**
 * The lowbit serve bench (not a test; `npm run bench -- --serve`, or run alone with
 * `node --import ./src/node/register.js bench/serve.ts [--json]`). In one process, on 127.0.0.1
 * only, a server over the 3M fixture with 4 slots is driven by HTTP clients (fetch, SSE):
 *   - aggregate decode throughput with 1, 2 and 4 concurrent streams, interleaved over rounds
 *     (the order rotates each round), each ratio to N=1 taken within its round;
 *   - a load test: 10 concurrent clients send 50 streaming requests between them (4 slots, a
 *     queue of 4; a client told 429 waits Retry-After before its next request): every request must
 *     complete or get a 429, with the exact text a request alone gets (greedy), and the JS heap
 *     must stay flat from one pass to the next; p50/p95 time to first token and aggregate tok/s.
 * Options: --model PATH, --rounds N (3), --tokens N (48, per stream), --activations auto|f32|int8
 * (auto), --batch-decode on|off (default: the engine's: on with f32 activations, and with int8 ones
 * when every layer linear has an int8 mat-vec, as the 3M fixture's do), --json.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadEngine } from '../src/engine/engine.ts';
import { requestNodeGpu } from '../src/gpu/device-node.ts';
import { FileByteSource } from '../src/io/file-byte-source.ts';
import { createLowbitServer } from '../src/server/server.ts';
import { serveMarkdown, type LoadPass, type ServeBenchDoc } from './lib/serve-table.ts';
import { median, pairedRatios, spread } from '../src/stats.ts';
import { fmt } from './lib/table.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: join(root, 'public/models/tinystories-llama-3M-Q4_K_M.gguf') },
    rounds: { type: 'string', default: '3' },
    tokens: { type: 'string', default: '48' },
    activations: { type: 'string', default: 'auto' },
    'batch-decode': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const rounds = Number(args.rounds);
const tokens = Number(args.tokens);
const log = (s: string) => process.stderr.write(s + '\n');

const STREAMS = [1, 2, 4] as const;
const SLOTS = 4;
const LOAD_CLIENTS = 10;
const LOAD_REQUESTS = 50;
const LOAD_QUEUE = 4;
const LOAD_TOKENS = 16;
const PROMPTS = ['Once upon a time, a dog', 'Once upon a time, a little girl', 'One day, a cat', 'Tom and his friend', 'The sun was'];

interface StreamResult {
  status: number;
  /** Milliseconds from sending to the first piece of text (or to the end when there is none). */
  ttftMs: number;
  text: string;
  completionTokens: number;
  /** What was wrong with the reply's framing or content, if anything. */
  problem?: string;
  /** A refusal's Retry-After. */
  retryAfterSeconds?: number;
}

/** One streaming chat request, read event by event; checks the SSE framing and the chunk sequence. */
async function streamChat(base: string, content: string, maxTokens: number): Promise<StreamResult> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      messages: [{ role: 'user', content }],
      max_tokens: maxTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    return { status: res.status, ttftMs: 0, text: '', completionTokens: 0, retryAfterSeconds: Number(res.headers.get('retry-after') ?? 0) };
  }
  const decoder = new TextDecoder();
  let buffered = '';
  let text = '';
  let ttftMs = 0;
  let completionTokens = -1;
  let finishes = 0;
  let done = false;
  const ids = new Set<string>();
  let problem: string | undefined;
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (!event.startsWith('data: ') || event.includes('\n')) problem ??= `bad SSE event ${JSON.stringify(event.slice(0, 80))}`;
      const data = event.slice(6);
      if (data === '[DONE]') {
        done = true;
        continue;
      }
      const chunk = JSON.parse(data) as {
        id: string;
        choices: { delta: { content?: string }; finish_reason: string | null }[];
        usage?: { completion_tokens: number };
      };
      ids.add(chunk.id);
      const piece = chunk.choices[0]?.delta.content;
      if (piece) {
        if (!ttftMs) ttftMs = performance.now() - t0;
        text += piece;
      }
      if (chunk.choices[0]?.finish_reason) finishes++;
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
    }
  }
  if (!done) problem ??= 'no data: [DONE]';
  if (buffered !== '') problem ??= 'bytes after the last event';
  if (finishes !== 1) problem ??= `${finishes} finish chunks`;
  if (ids.size !== 1) problem ??= `${ids.size} ids in one stream`;
  if (completionTokens < 0) problem ??= 'no usage chunk';
  return { status: 200, ttftMs: ttftMs || performance.now() - t0, text, completionTokens, problem };
}

function heapMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1e6;
}

const source = await FileByteSource.open(args.model);
const gpu = await requestNodeGpu({ warn: log });
const activations = args.activations as 'auto' | 'f32' | 'int8';
if (!['auto', 'f32', 'int8'].includes(activations)) throw new RangeError(`--activations must be auto, f32 or int8, got ${activations}`);
const batchArg = args['batch-decode'];
if (batchArg !== undefined && batchArg !== 'on' && batchArg !== 'off')
  throw new RangeError(`--batch-decode must be on or off, got ${batchArg}`);
const engine = await loadEngine(source, {
  gpu,
  contextSize: 256,
  slots: SLOTS,
  activations,
  batchDecode: batchArg === undefined ? undefined : batchArg === 'on',
});
await source.close();
const server = createLowbitServer({ maxQueue: LOAD_QUEUE });
server.setEngine(engine);
const address = await server.listen(0, '127.0.0.1');
const base = `http://127.0.0.1:${address.port}`;
log(`serve bench: ${engine.info.name} (${args.model.split('/').pop()}), ${SLOTS} slots, ${base}`);

// Warm-up, and each prompt's reference text when it runs alone (greedy): the load test compares.
const reference = new Map<string, string>();
for (const p of PROMPTS) reference.set(p, (await streamChat(base, p, LOAD_TOKENS)).text);

/** Aggregate tok/s of n concurrent streams (completion tokens over the wall time of all of them). */
async function aggregate(n: number): Promise<{ tokPerSec: number; ttftMs: number }> {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: n }, (_, i) => streamChat(base, PROMPTS[i % PROMPTS.length]!, tokens)));
  const wall = (performance.now() - t0) / 1000;
  for (const r of results) if (r.status !== 200 || r.problem) throw new Error(`stream failed: ${r.status} ${r.problem ?? ''}`);
  const total = results.reduce((s, r) => s + r.completionTokens, 0);
  return { tokPerSec: total / wall, ttftMs: median(results.map((r) => r.ttftMs)) };
}

const perN = new Map<number, number[]>(STREAMS.map((n) => [n, []]));
const ttftPerN = new Map<number, number[]>(STREAMS.map((n) => [n, []]));
for (let r = 0; r < rounds; r++) {
  const order = STREAMS.map((_, i) => STREAMS[(i + r) % STREAMS.length]!);
  for (const n of order) {
    const m = await aggregate(n);
    perN.get(n)!.push(m.tokPerSec);
    ttftPerN.get(n)!.push(m.ttftMs);
  }
  log(`  round ${r + 1}/${rounds}: ${STREAMS.map((n) => `N=${n} ${fmt(perN.get(n)!.at(-1)!, 1)} tok/s`).join(', ')}`);
}
const parallel = STREAMS.map((n) => ({
  streams: n,
  aggregateTokPerSec: spread(perN.get(n)!),
  ttftMs: spread(ttftPerN.get(n)!),
  ratioToOne: spread(pairedRatios(perN.get(n)!, perN.get(1)!)),
}));

/** 10 clients, 50 requests between them; every answer is checked. */
async function loadTest(): Promise<LoadPass> {
  let issued = 0;
  const results: (StreamResult & { prompt: string })[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: LOAD_CLIENTS }, async () => {
      while (issued < LOAD_REQUESTS) {
        const prompt = PROMPTS[issued++ % PROMPTS.length]!;
        const r = await streamChat(base, prompt, LOAD_TOKENS);
        results.push({ prompt, ...r });
        // A polite client: after a 429 it waits as long as Retry-After says before its next request.
        if (r.status === 429) await new Promise((done) => setTimeout(done, (r.retryAfterSeconds ?? 1) * 1000));
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 429).length;
  const other = results.length - ok.length - refused;
  const garbledResults = ok.filter((r) => r.problem || r.text !== reference.get(r.prompt));
  const garbled = garbledResults.length;
  // What was wrong, so a failed pass can be understood from its log.
  for (const r of garbledResults)
    log(
      `  garbled: ${JSON.stringify(r.prompt)}: ${r.problem ?? `got ${JSON.stringify(r.text)}, alone ${JSON.stringify(reference.get(r.prompt))}`}`,
    );
  const ttft = ok.map((r) => r.ttftMs).sort((a, b) => a - b);
  const pct = (p: number) => ttft[Math.min(ttft.length - 1, Math.ceil((p / 100) * ttft.length) - 1)] ?? 0;
  return {
    requests: results.length,
    completed: ok.length,
    refused429: refused,
    otherStatus: other,
    lost: LOAD_REQUESTS - results.length,
    garbled,
    ttftP50Ms: pct(50),
    ttftP95Ms: pct(95),
    aggregateTokPerSec: ok.reduce((s, r) => s + r.completionTokens, 0) / wall,
    wallSeconds: wall,
  };
}

log('  load test: pass 1 …');
const heapBefore = heapMb();
const load1 = await loadTest();
const heapAfter1 = heapMb();
log('  load test: pass 2 …');
const load2 = await loadTest();
const heapAfter2 = heapMb();
const load = {
  passes: [load1, load2],
  heapMb: { before: heapBefore, afterPass1: heapAfter1, afterPass2: heapAfter2 },
  gcExposed: 'gc' in globalThis,
};

await server.shutdown();
await engine.dispose();
gpu.device.destroy();

const doc: ServeBenchDoc = {
  model: engine.info.name,
  slots: SLOTS,
  activations: engine.info.activations,
  batchedDecode: engine.batchedDecode,
  tokensPerStream: tokens,
  rounds,
  parallel,
  load: { ...load, clients: LOAD_CLIENTS, requests: LOAD_REQUESTS, queue: LOAD_QUEUE, tokensPerRequest: LOAD_TOKENS },
};
process.stdout.write(args.json ? JSON.stringify(doc, null, 1) + '\n' : serveMarkdown(doc) + '\n');
const failed = load.passes.some((l) => l.lost || l.garbled || l.otherStatus);
process.exit(failed ? 1 : 0);
