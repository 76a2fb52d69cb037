/** Human-readable numbers for the chat UI and the demo (decimal units, as download sizes are shown). */

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  // Three significant digits: 2.09 MB, 42.2 MB, 105 MB.
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

export function formatRate(bytesPerSec: number | undefined): string {
  if (bytesPerSec === undefined || !Number.isFinite(bytesPerSec) || bytesPerSec <= 0) return '';
  return `${formatBytes(bytesPerSec)}/s`;
}

/** "12 s", "3 min 05 s", "1 h 02 min"; '' when unknown. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export function formatTokensPerSec(rate: number): string {
  if (!Number.isFinite(rate) || rate <= 0) return '–';
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}

/** "5 min ago", "yesterday", a date; '' when unknown. */
export function formatAgo(epochMs: number | undefined, now = Date.now()): string {
  if (!epochMs || !Number.isFinite(epochMs)) return '';
  const s = Math.max(0, (now - epochMs) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 2 * 86400) return 'yesterday';
  if (s < 30 * 86400) return `${Math.floor(s / 86400)} days ago`;
  return new Date(epochMs).toISOString().slice(0, 10);
}
