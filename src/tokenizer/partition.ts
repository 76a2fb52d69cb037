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

/**
 * partitionSpecial over only the special tokens that occur in the text. Vocabs carry hundreds to
 * thousands of special tokens (DeepSeek: 2,400 user-defined, Llama 3: 256 reserved); scanning the
 * text once with an index on each token's first two UTF-16 units finds the few that matter.
 */
export class SpecialTokenSplitter {
  private readonly byPrefix = new Map<number, number[]>();
  private readonly rank: Map<number, number>;

  constructor(
    private readonly order: readonly number[],
    private readonly tokens: readonly string[],
    private readonly attrs: Uint16Array,
  ) {
    this.rank = new Map(order.map((id, i) => [id, i]));
    for (const id of order) {
      const t = tokens[id]!;
      // single-unit tokens are keyed by that unit alone (high half 0xffff never occurs in a pair key)
      const key = t.length === 1 ? 0xffff0000 + t.charCodeAt(0) : t.charCodeAt(0) * 0x10000 + t.charCodeAt(1);
      const list = this.byPrefix.get(key);
      if (list) list.push(id);
      else this.byPrefix.set(key, [id]);
    }
  }

  split(text: string, parseSpecial: boolean): Fragment[] {
    if (text === '') return [];
    if (this.order.length === 0) return [text];
    const present = new Set<number>();
    const eligible = (id: number) => parseSpecial || !(this.attrs[id]! & (Attr.Control | Attr.Unknown));
    for (let i = 0; i < text.length; i++) {
      const c0 = text.charCodeAt(i);
      const singles = this.byPrefix.get(0xffff0000 + c0);
      if (singles) for (const id of singles) if (eligible(id)) present.add(id);
      if (i + 1 < text.length) {
        const list = this.byPrefix.get(c0 * 0x10000 + text.charCodeAt(i + 1));
        if (list) for (const id of list) if (!present.has(id) && eligible(id) && text.startsWith(this.tokens[id]!, i)) present.add(id);
      }
    }
    if (present.size === 0) return [text];
    const ids = [...present].sort((a, b) => this.rank.get(a)! - this.rank.get(b)!);
    return partitionSpecial(text, ids, this.tokens, this.attrs, parseSpecial);
  }
}
