/**
 * Progress output for long CLI operations: a bar redrawn in place on a terminal, plain lines (at
 * most every few seconds, and at each phase change) when stderr is a file or a pipe.
 */
import { formatBytes, formatRate } from '../format.ts';
import type { ProgressReport } from '../io/progress.ts';
import { escapeControl } from './terminal-text.ts';

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function describeProgress(r: ProgressReport): string {
  const pct = r.bytesTotal > 0 ? `${((100 * r.bytesDone) / r.bytesTotal).toFixed(1)}%` : '';
  const amount = r.bytesTotal > 0 ? `${formatBytes(r.bytesDone)} / ${formatBytes(r.bytesTotal)}` : formatBytes(r.bytesDone);
  const rate = r.bytesPerSecond > 0 ? `, ${formatRate(r.bytesPerSecond)}` : '';
  const eta = r.etaSeconds !== undefined && r.bytesDone < r.bytesTotal ? `, ETA ${formatDuration(r.etaSeconds)}` : '';
  return `${r.phase} ${pct} ${amount}${rate}${eta}`.replace(/\s+/g, ' ');
}

export class ProgressPrinter {
  private lastLine = 0;
  private lastPhase = '';
  private finalPrinted = '';
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = !!process.stderr.isTTY,
    /** Plain-line interval; LOWBIT_PROGRESS_MS overrides it (log files, tests). */
    private readonly lineIntervalMs = Number(process.env.LOWBIT_PROGRESS_MS) || 2000,
  ) {}

  update(r: ProgressReport): void {
    if (this.tty) {
      const width = 24;
      const frac = r.bytesTotal > 0 ? Math.min(1, r.bytesDone / r.bytesTotal) : 0;
      const full = Math.round(frac * width);
      const bar = `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
      this.out.write(`\r\x1b[2K${escapeControl(r.name)} ${bar} ${describeProgress(r)}`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    const final = r.bytesTotal > 0 && r.bytesDone >= r.bytesTotal;
    if (final && this.finalPrinted === r.phase) return;
    if (r.phase !== this.lastPhase || final || now - this.lastLine >= this.lineIntervalMs) {
      if (final) this.finalPrinted = r.phase;
      this.lastPhase = r.phase;
      this.lastLine = now;
      this.out.write(`${escapeControl(r.name)}: ${describeProgress(r)}\n`);
    }
  }

  /** Ends the in-place line so later output starts on a fresh line. */
  done(): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
