/** A line opening or closing a fenced code block; group 1 is the run of ` or ~. */
export const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})/;

/** A closing fence is a run of the opening character, at least as long, and nothing else. */
export function closesFence(line: string, openingRun: string): boolean {
  const run = FENCE_LINE.exec(line)?.[1];
  return run !== undefined && run[0] === openingRun[0] && run.length >= openingRun.length && line.trim() === run;
}

/**
 * Splits streaming markdown into blocks that will not change any more, so a long reply is parsed
 * once per block instead of once per token (O(n) instead of O(n²) over a reply).
 *
 * A block ends at a blank line outside a fenced code block. What follows the last such line is
 * the tail, still being written, and is re-rendered as tokens arrive. Splitting at blank lines can
 * render a loose list or a lazy continuation slightly differently from the whole text; the final
 * render of a finished reply parses the whole text once to settle that (when it is short enough:
 * src/ui/markdown.ts).
 */
export class BlockSplitter {
  /** Start of the first line not scanned yet. */
  private scanned = 0;
  /** The opening fence (``` or ~~~ run) while inside a fenced code block. */
  private fence: string | null = null;
  /** End of the text covered by completed blocks. */
  private stableEnd = 0;
  private readonly completed: string[] = [];
  /** Length and last characters of the previous text, to notice a text that does not extend it. */
  private lastLength = 0;
  private lastEnd = '';
  /** Counts restarts (a text that did not extend the previous one), so callers can drop caches. */
  generation = 0;

  /**
   * Feeds the whole reply so far (each call extends the previous text; anything else restarts).
   * Returns the completed blocks (the same array, grown) and the tail.
   */
  push(text: string): { blocks: readonly string[]; tail: string } {
    // A full startsWith() check per token would make streaming quadratic; the end of the previous
    // text being in place catches replacements (a new reply, a regenerated one).
    if (text.length < this.lastLength || text.slice(this.lastLength - this.lastEnd.length, this.lastLength) !== this.lastEnd)
      this.restart();
    this.lastLength = text.length;
    this.lastEnd = text.slice(-32);
    for (;;) {
      const nl = text.indexOf('\n', this.scanned);
      if (nl < 0) break;
      this.scanLine(text.slice(this.scanned, nl), nl + 1, text);
      this.scanned = nl + 1;
    }
    return { blocks: this.completed, tail: text.slice(this.stableEnd) };
  }

  private scanLine(line: string, nextLineStart: number, text: string): void {
    const fence = FENCE_LINE.exec(line);
    if (fence) {
      if (!this.fence) this.fence = fence[1];
      else if (closesFence(line, this.fence)) this.fence = null;
      return;
    }
    if (this.fence || line.trim() !== '') return;
    const block = text.slice(this.stableEnd, nextLineStart);
    // Blank lines with nothing before them stay with the next block.
    if (block.trim() === '') return;
    this.completed.push(block);
    this.stableEnd = nextLineStart;
  }

  private restart(): void {
    this.generation++;
    this.scanned = 0;
    this.fence = null;
    this.stableEnd = 0;
    this.completed.length = 0;
  }
}
