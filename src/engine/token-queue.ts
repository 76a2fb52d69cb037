/**
 * Tokens produced by a generation and not yet consumed, turned into the async iterator a
 * `TokenStream` hands out. The in-process engine pushes tokens as the GPU yields them; the worker
 * client pushes the batches that arrive from the worker. Both end the queue with the generation's
 * outcome: nothing (done) or the error the consumer's loop should throw.
 */
import type { GeneratedToken } from './types.ts';

export class TokenQueue {
  private readonly buffered: GeneratedToken[] = [];
  private ended = false;
  private error: unknown = undefined;
  private readonly waiting: (() => void)[] = [];

  push(...tokens: GeneratedToken[]): void {
    this.buffered.push(...tokens);
    this.wake();
  }

  /** No more tokens; with `error`, the consumer's next read throws it once, after the buffered tokens. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiting.splice(0)) w();
  }

  /**
   * The consumer's iterator. `onReturn` runs when the consumer leaves its loop early (break,
   * throw) while the generation is still going: it stops the generation.
   */
  iterator(onReturn: () => void | Promise<void>): AsyncIterator<GeneratedToken> {
    return {
      next: async (): Promise<IteratorResult<GeneratedToken>> => {
        for (;;) {
          const token = this.buffered.shift();
          if (token) return { value: token, done: false };
          if (this.ended) {
            if (this.error !== undefined) {
              const e = this.error;
              this.error = undefined;
              throw e;
            }
            return { value: undefined, done: true };
          }
          await new Promise<void>((r) => this.waiting.push(r));
        }
      },
      return: async (): Promise<IteratorResult<GeneratedToken>> => {
        if (!this.ended) await onReturn();
        return { value: undefined, done: true };
      },
    };
  }
}
