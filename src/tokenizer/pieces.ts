/**
 * Token id → the bytes it stands for, as llama.cpp's token_to_piece renders them: control and
 * unknown tokens render as nothing unless `special` is asked for; user-defined tokens render as
 * their text; SentencePiece/WordPiece pieces turn "▁" back into spaces; byte tokens `<0xNN>`
 * are that byte; byte-level BPE pieces are decoded through the GPT-2 byte alphabet.
 */
import type { PackedStrings } from '../gguf/packed-strings.ts';
import { byteLevelDecode } from './byte-level.ts';
import { Attr, type TokenizerKind } from './special-tokens.ts';

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

export class TokenPieces {
  private readonly cache: (Uint8Array | undefined)[];

  constructor(
    private readonly tokens: PackedStrings,
    private readonly attrs: Uint16Array,
    private readonly kind: TokenizerKind,
  ) {
    this.cache = new Array<Uint8Array | undefined>(tokens.length);
  }

  /** The bytes of token `id` (a valid id); control/unknown tokens are empty unless `special`. */
  bytes(id: number, special: boolean): Uint8Array {
    const a = this.attrs[id]!;
    if (!special && a & (Attr.Control | Attr.Unknown)) return EMPTY;
    return (this.cache[id] ??= this.render(id, a));
  }

  private render(id: number, a: number): Uint8Array {
    const text = this.tokens.get(id);
    if (a & (Attr.Control | Attr.Unknown | Attr.UserDefined)) return utf8.encode(text);
    if (a & Attr.Byte) {
      const m = BYTE_PIECE.exec(text);
      if (m) return Uint8Array.of(parseInt(m[1]!, 16));
      return this.kind === 'bpe' ? byteLevelDecode(text) : utf8.encode(text);
    }
    if (a & Attr.Normal) return this.kind === 'bpe' ? byteLevelDecode(text) : utf8.encode(text.replaceAll('\u2581', ' '));
    // unused / undefined types render as nothing, as in llama.cpp
    return EMPTY;
  }
}
