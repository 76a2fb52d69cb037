/**
 * Progress reports shared by the downloader, the importer, the verifier and the GPU loader: bytes
 * done, a windowed rate and an ETA, throttled. In io/ because storage and runtime both report.
 */

export type ProgressPhase = 'download' | 'verify' | 'upload';

export interface ProgressReport {
  phase: ProgressPhase;
  /** Model name or file being processed. */
  name: string;
  bytesDone: number;
  /** Total bytes of this phase; 0 while unknown (a server that sends no length). */
  bytesTotal: number;
  /** Recent throughput of this phase, bytes per second (0 until measurable). */
  bytesPerSecond: number;
  /** Seconds left at the recent rate; undefined when unknown. */
  etaSeconds?: number;
  /** Set while a failed request waits to be tried again: attempt `attempt` of `of` comes next. */
  retry?: { attempt: number; of: number };
}

export type ProgressCallback = (report: ProgressReport) => void;

/**
 * Throughput over a sliding window (default 5 s), so the rate and ETA follow the current speed
 * rather than the average since the start (which a resume or a slow start would skew).
 */
export class RateMeter {
  private readonly samples: { t: number; bytes: number }[] = [];

  constructor(
    private readonly windowMs = 5000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records the running byte count; returns bytes per second over the window. */
  sample(bytesDone: number): number {
    const t = this.now();
    this.samples.push({ t, bytes: bytesDone });
    while (this.samples.length > 2 && t - this.samples[1]!.t > this.windowMs) this.samples.shift();
    return this.rate();
  }

  rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t - first.t < 200) return 0;
    return ((last.bytes - first.bytes) * 1000) / (last.t - first.t);
  }
}

/** Builds reports for one phase, throttled to one per `intervalMs` except forced ones. */
export class ProgressTracker {
  private readonly meter: RateMeter;
  private lastEmit = -Infinity;
  private lastBytes = 0;
  private retry: ProgressReport['retry'];

  constructor(
    private readonly phase: ProgressPhase,
    private readonly name: string,
    public bytesTotal: number,
    private readonly callback: ProgressCallback | undefined,
    private readonly intervalMs = 100,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.meter = new RateMeter(5000, now);
  }

  /** Reports that a failed request will be tried again (until bytes flow again). */
  retrying(retry: NonNullable<ProgressReport['retry']>): void {
    this.retry = retry;
    this.update(this.lastBytes, true);
  }

  update(bytesDone: number, force = false): void {
    if (!this.callback) return;
    if (bytesDone > this.lastBytes) this.retry = undefined;
    this.lastBytes = bytesDone;
    const rate = this.meter.sample(bytesDone);
    const t = this.now();
    if (!force && t - this.lastEmit < this.intervalMs) return;
    this.lastEmit = t;
    const left = this.bytesTotal - bytesDone;
    this.callback({
      phase: this.phase,
      name: this.name,
      bytesDone,
      bytesTotal: this.bytesTotal,
      bytesPerSecond: rate,
      etaSeconds: rate > 0 && this.bytesTotal > 0 ? Math.max(0, left) / rate : undefined,
      ...(this.retry ? { retry: this.retry } : {}),
    });
  }
}
