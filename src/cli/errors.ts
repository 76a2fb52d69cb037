import { LowbitError } from '../errors.ts';
import { escapeControl } from './terminal-text.ts';

/** Bad command-line arguments; printed without a class name, exit status 2. */
export class UsageError extends LowbitError {}

/**
 * Print an error as one line on stderr and return the exit status: 2 for errors about the user's
 * input (LowbitError subclasses, missing or unreadable files), 1 with a stack trace for anything
 * else, which is a bug in lowbit. Messages quote file contents, names and server replies, so
 * control characters are escaped.
 */
export function reportError(e: unknown): number {
  if (e instanceof UsageError) {
    process.stderr.write(`error: ${oneLine(e.message)}\n`);
    return 2;
  }
  if (e instanceof LowbitError) {
    process.stderr.write(`error: ${e.name}: ${oneLine(e.message)}\n`);
    return 2;
  }
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (e instanceof Error && typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    process.stderr.write(`error: ${code}: ${oneLine(e.message)}\n`);
    return 2;
  }
  process.stderr.write(
    `error: internal error (please report): ${escapeControl(e instanceof Error ? (e.stack ?? e.message) : String(e), true)}\n`,
  );
  return 1;
}

function oneLine(s: string): string {
  return escapeControl(s.replace(/\s*\n\s*/g, ' '));
}
