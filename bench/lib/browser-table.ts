/** Markdown for the browser end-to-end rows (bench/browser.ts and `npm run bench -- --browser`). */
import type { BrowserDevice, BrowserE2eRow } from '../browser-page.ts';
import { fmt, markdownTable } from './table.ts';

export function deviceLine(d: BrowserDevice): string {
  const chrome = d.userAgent.match(/(?:Headless)?Chrome\/[\d.]+/)?.[0] ?? d.userAgent;
  return `Browser device: ${d.vendor} ${d.architecture} (${d.description})${d.software ? ', software' : ''}; f16 ${d.hasF16}, subgroups ${d.hasSubgroups}; ${chrome}`;
}

export function browserE2eTable(rows: BrowserE2eRow[]): string {
  return markdownTable(
    [
      'model',
      'load ms',
      'of which kernels ms',
      'first reply ms',
      'prefill tok/s',
      'decode tok/s',
      'TTFT ms',
      'submits/step',
      'dispatches/step',
      'readback B/step',
      'new objects/step',
    ],
    rows.map((r) => [
      r.model,
      fmt(r.loadMs, 0),
      fmt(r.compileMs, 0),
      fmt(r.firstReplyMs, 0),
      fmt(r.prefillTokensPerSec),
      fmt(r.decodeTokensPerSec),
      fmt(r.timeToFirstTokenMs),
      fmt(r.submissionsPerStep),
      fmt(r.dispatchesPerStep),
      fmt(r.readbackBytesPerStep),
      fmt(r.newGpuObjectsPerStep),
    ]),
  );
}
