/**
 * Split raw text on special-token texts before the tokenizer proper sees it, as llama.cpp's
 * tokenizer_st_partition does: tokens are tried longest first; control and unknown tokens only
 * when parse_special is on, user-defined tokens always; LStrip/RStrip tokens swallow the
 * whitespace beside them.
 */
import { Attr } from './special-tokens.ts';

/** A piece of input: raw text still to tokenize, or an already-resolved token id. */
export type Fragment = string | number;

// C isspace(): space, \t, \n, \v, \f, \r
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

export function partitionSpecial(
  text: string,
  order: readonly number[],
  tokens: readonly string[],
  attrs: Uint16Array,
  parseSpecial: boolean,
): Fragment[] {
  if (text === '') return [];
  let frags: Fragment[] = [text];
  for (const id of order) {
    const a = attrs[id]!;
    if (!parseSpecial && a & (Attr.Control | Attr.Unknown)) continue;
    const needle = tokens[id]!;
    if (!text.includes(needle)) continue; // cheap reject on the whole input
    const next: Fragment[] = [];
    for (const f of frags) {
      if (typeof f !== 'string') {
        next.push(f);
        continue;
      }
      let pos = 0;
      for (;;) {
        const at = f.indexOf(needle, pos);
        if (at < 0) {
          if (pos < f.length) next.push(pos === 0 ? f : f.slice(pos));
          break;
        }
        let leftEnd = at;
        if (a & Attr.LStrip) while (leftEnd > pos && isSpace(f.charCodeAt(leftEnd - 1))) leftEnd--;
        if (leftEnd > pos) next.push(f.slice(pos, leftEnd));
        next.push(id);
        pos = at + needle.length;
        if (a & Attr.RStrip) while (pos < f.length && isSpace(f.charCodeAt(pos))) pos++;
        if (pos >= f.length) break;
      }
    }
    frags = next;
  }
  return frags;
}
