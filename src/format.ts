/**
 * Byte counts as people read them, in every layer that shows one (the CLI, the chat element, the
 * demo app, storage errors).
 *
 * One convention everywhere: decimal SI units (1 kB = 1000 B, 1 MB = 10^6 B, up to TB) with three
 * significant digits (2.09 MB, 42.2 MB, 105 MB), the way model hosts, browsers' storage estimates and
 * disk vendors state sizes, so a size shown here matches the one on the download page. Binary
 * units (MiB) stay only where a value is a power-of-two parameter, such as a chunk size flag.
 */

/** "999 B", "2.09 MB", "1.19 GB"; '?' for a negative or non-finite count. */
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
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

/** "4.20 MB/s"; '' while the rate is unknown (undefined, 0 or not finite). */
export function formatRate(bytesPerSec: number | undefined): string {
  if (bytesPerSec === undefined || !Number.isFinite(bytesPerSec) || bytesPerSec <= 0) return '';
  return `${formatBytes(bytesPerSec)}/s`;
}
