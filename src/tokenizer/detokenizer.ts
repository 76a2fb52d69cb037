/**
 * Incremental detokenization for streaming generation. Tokens arrive one at a time and a token
 * may end in the middle of a UTF-8 character (byte-fallback tokens `<0xF0>` `<0x9F>` … spell an
 * emoji across four tokens), so bytes are buffered and only whole characters are emitted.
 */

/** What the detokenizer needs from a tokenizer. */
export interface TokenByteSource {
  tokenBytes(id: number, special: boolean): Uint8Array;
}

export interface DetokenizeOptions {
  /** Render control tokens (BOS, EOS, <|im_end|>, …) as their text. Default false. */
  special?: boolean;
  /** Drop one space at the very start of the output (SentencePiece's dummy prefix). */
  stripLeadingSpace?: boolean;
}

export class StreamingDetokenizer {
  private decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  private atStart = true;
  private readonly special: boolean;
  private readonly stripLeadingSpace: boolean;

  constructor(
    private readonly source: TokenByteSource,
    options: DetokenizeOptions = {},
  ) {
    this.special = options.special ?? false;
    this.stripLeadingSpace = options.stripLeadingSpace ?? false;
  }

  /** Add one token; returns the text that became complete (possibly ""). */
  push(id: number): string {
    let bytes = this.source.tokenBytes(id, this.special);
    if (bytes.length === 0) return '';
    if (this.atStart) {
      this.atStart = false;
      if (this.stripLeadingSpace && bytes[0] === 0x20) bytes = bytes.subarray(1);
    }
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Add several tokens; returns the text that became complete. */
  pushAll(ids: Iterable<number>): string {
    let out = '';
    for (const id of ids) out += this.push(id);
    return out;
  }

  /** End of stream: returns what is left, an unfinished character becoming U+FFFD. */
  flush(): string {
    return this.decoder.decode();
  }

  /** Forget everything buffered and start a new stream. */
  reset(): void {
    this.decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    this.atStart = true;
  }
}
