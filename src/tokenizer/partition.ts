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

/** The special tokens that start with one pair of UTF-16 units. */
interface PairBucket {
  /** Distinct token lengths, ascending. */
  lengths: number[];
  /** Token text → its ids (a vocab may repeat a text). */
  ids: Map<string, number[]>;
}

/**
 * partitionSpecial over only the special tokens that occur in the text. Vocabs carry hundreds to
 * thousands of special tokens (DeepSeek: 2,400 user-defined, Llama 3: 256 reserved); scanning the
 * text once with an index on each token's first two UTF-16 units finds the few that matter. Within
 * one first pair the tokens are looked up by length and text, so a position costs one lookup per
 * distinct length, not one comparison per token: a hostile vocab of 200k tokens all starting with
 * "<|" made each "<|" in the text cost 200k comparisons (seconds for a few thousand characters).
 */
export class SpecialTokenSplitter {
  /** Single-unit tokens by that unit. */
  private readonly singles = new Map<number, number[]>();
  private readonly pairs = new Map<number, PairBucket>();
  private readonly rank: Map<number, number>;

  constructor(
    private readonly order: readonly number[],
    private readonly tokens: readonly string[],
    private readonly attrs: Uint16Array,
  ) {
    this.rank = new Map(order.map((id, i) => [id, i]));
    for (const id of order) {
      const t = tokens[id]!;
      if (t.length === 1) {
        const list = this.singles.get(t.charCodeAt(0));
        if (list) list.push(id);
        else this.singles.set(t.charCodeAt(0), [id]);
        continue;
      }
      const key = t.charCodeAt(0) * 0x10000 + t.charCodeAt(1);
      let bucket = this.pairs.get(key);
      if (!bucket) this.pairs.set(key, (bucket = { lengths: [], ids: new Map() }));
      const same = bucket.ids.get(t);
      if (same) same.push(id);
      else {
        bucket.ids.set(t, [id]);
        if (!bucket.lengths.includes(t.length)) bucket.lengths.push(t.length);
      }
    }
    for (const bucket of this.pairs.values()) bucket.lengths.sort((a, b) => a - b);
  }

  split(text: string, parseSpecial: boolean): Fragment[] {
    if (text === '') return [];
    if (this.order.length === 0) return [text];
    const present = new Set<number>();
    const eligible = (id: number) => parseSpecial || !(this.attrs[id]! & (Attr.Control | Attr.Unknown));
    for (let i = 0; i < text.length; i++) {
      const c0 = text.charCodeAt(i);
      const singles = this.singles.get(c0);
      if (singles) for (const id of singles) if (eligible(id)) present.add(id);
      if (i + 1 < text.length) {
        const bucket = this.pairs.get(c0 * 0x10000 + text.charCodeAt(i + 1));
        if (!bucket) continue;
        for (const len of bucket.lengths) {
          if (i + len > text.length) break;
          const ids = bucket.ids.get(text.slice(i, i + len));
          if (ids) for (const id of ids) if (eligible(id)) present.add(id);
        }
      }
    }
    if (present.size === 0) return [text];
    const ids = [...present].sort((a, b) => this.rank.get(a)! - this.rank.get(b)!);
    return partitionSpecial(text, ids, this.tokens, this.attrs, parseSpecial);
  }
}
