/**
 * GPT-2's byte-level alphabet: every byte gets a printable character so byte-level BPE vocabs can
 * be stored as text. Printable Latin-1 bytes (33–126, 161–172, 174–255) stand for themselves; the
 * other 68 bytes map, in order, to U+0100 onwards (so space 0x20 is "Ġ" U+0120, "\n" is "Ċ").
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out[b] = String.fromCharCode(printable ? b : next++);
  }
  return out;
})();

/** Code unit → byte, for the 256 characters of the alphabet; -1 elsewhere. */
const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (t[c.charCodeAt(0)] = b));
  return t;
})();

const utf8 = new TextEncoder();

/**
 * The bytes a byte-level token stands for. Characters outside the alphabet (a vocab that stores
 * some raw text) pass through as their own UTF-8.
 */
export function byteLevelDecode(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 3);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const b = c < 512 ? CHAR_TO_BYTE[c]! : -1;
    if (b >= 0) {
      out[n++] = b;
    } else {
      const ch = String.fromCodePoint(text.codePointAt(i)!);
      const bytes = utf8.encode(ch);
      out.set(bytes, n);
      n += bytes.length;
      i += ch.length - 1;
    }
  }
  return out.slice(0, n);
}
