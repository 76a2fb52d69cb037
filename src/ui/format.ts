/** Human-readable durations, speeds and dates for the chat UI and the demo (byte counts: src/format.ts). */

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
