/** lowbit serve's bench results (bench/serve.ts) and their markdown, shared by bench/run.ts --serve. */
import type { Spread } from '../../src/stats.ts';
import { fmt, markdownTable } from './table.ts';

export interface LoadPass {
  requests: number;
  completed: number;
  refused429: number;
  /** Answers that were neither 200 nor 429 (must be 0). */
  otherStatus: number;
  /** Requests that got no answer at all (must be 0). */
  lost: number;
  /** Completed replies with broken SSE framing or a text other than the prompt's greedy reply alone (must be 0). */
  garbled: number;
  ttftP50Ms: number;
  ttftP95Ms: number;
  aggregateTokPerSec: number;
  wallSeconds: number;
}

export interface ServeBenchDoc {
  model: string;
  slots: number;
  /** Decode activations the engine resolved (f32 or int8). */
  activations?: string;
  /** Whether the slots decoded in one batched step (EngineLoadOptions.batchDecode). */
  batchedDecode?: boolean;
  tokensPerStream: number;
  rounds: number;
  parallel: { streams: number; aggregateTokPerSec: Spread; ttftMs: Spread; ratioToOne: Spread }[];
  load: {
    clients: number;
    requests: number;
    queue: number;
    tokensPerRequest: number;
    passes: LoadPass[];
    heapMb: { before: number; afterPass1: number; afterPass2: number };
    gcExposed: boolean;
  };
}

export function serveMarkdown(doc: ServeBenchDoc): string {
  const s = (x: Spread, d = 1) => `${fmt(x.median, d)} (${fmt(x.min, d)}–${fmt(x.max, d)})`;
  const { load } = doc;
  return [
    `lowbit serve, ${doc.model}, ${doc.slots} slots (${doc.batchedDecode ? 'batched decode: one submission per step for every stream' : 'no batched decode: each slot submits its own steps'}${doc.activations ? `, ${doc.activations} activations` : ''}); ` +
      `${doc.tokensPerStream} tokens per stream; median (min–max) of ${doc.rounds} interleaved rounds:`,
    '',
    markdownTable(
      ['streams', 'aggregate tok/s', '× N=1 (per round)', 'TTFT ms'],
      doc.parallel.map((p) => [p.streams, s(p.aggregateTokPerSec), s(p.ratioToOne, 2), s(p.ttftMs, 0)]),
    ),
    '',
    `Load test: ${load.clients} clients, ${load.requests} streaming requests of ${load.tokensPerRequest} tokens, ${doc.slots} slots, ` +
      `queue ${load.queue} (a client told 429 waits Retry-After):`,
    '',
    markdownTable(
      ['pass', 'completed', '429', 'other', 'lost', 'garbled', 'TTFT p50 ms', 'TTFT p95 ms', 'aggregate tok/s'],
      load.passes.map((l, i) => [
        i + 1,
        l.completed,
        l.refused429,
        l.otherStatus,
        l.lost,
        l.garbled,
        fmt(l.ttftP50Ms, 0),
        fmt(l.ttftP95Ms, 0),
        fmt(l.aggregateTokPerSec, 1),
      ]),
    ),
    '',
    `JS heap: ${fmt(load.heapMb.before, 1)} MB before, ${fmt(load.heapMb.afterPass1, 1)} MB after pass 1, ` +
      `${fmt(load.heapMb.afterPass2, 1)} MB after pass 2` +
      (load.gcExposed ? ' (after gc)' : ' (without --expose-gc: before collection)'),
  ].join('\n');
}
