/**
 * Assistant replies as sanitized HTML: markdown (GFM, code blocks) through `marked`, then the
 * allow-list sanitizer (src/ui/sanitize.ts), so model output can never run script, make the
 * browser fetch anything on its own, or dress up as the page's UI.
 *
 * Rendering hostile text must also never throw or freeze the page: `marked` recurses per nesting
 * level (`'> '.repeat(3000)` overflows the stack) and its emphasis matching is quadratic in the
 * length of a paragraph. So a failed render falls back to the text shown as text, a block longer
 * than MAX_MARKDOWN_CHARS is shown as text (or as code, if it is one fenced code block), and while
 * a reply streams the unfinished block is re-rendered at most as often as its cost allows.
 */
import { Marked, type Token, type Tokens } from 'marked';
import { BlockSplitter, FENCE_LINE, closesFence } from './markdown-blocks.ts';
import { escapeHtml, LANGUAGE_CLASS, plainTextHtml, sanitizeHtml } from './sanitize.ts';

/**
 * The longest text parsed as markdown in one go. Normal paragraphs are far shorter; at this size
 * the worst emphasis input costs tens of milliseconds, not seconds.
 */
export const MAX_MARKDOWN_CHARS = 8 * 1024;

/**
 * While streaming, a longer unfinished block is shown as text (or code) until it completes: it
 * is re-rendered many times, so its worst case must stay within a frame or two.
 */
const MAX_STREAMING_TAIL_CHARS = 4 * 1024;

/**
 * While streaming, the unfinished block is re-rendered only after this many times its last render
 * cost has passed, so rendering takes at most about 1/(1+N) of the main thread however slow a
 * parse is.
 */
const TAIL_BACKOFF = 4;

/**
 * Deeper markdown is shown as text. Browsers and the sanitizer flatten or drop elements nested a
 * few hundred deep, which would lose text silently; no real reply nests anywhere near this.
 */
const MAX_NESTING = 64;

const marked = new Marked(
  { gfm: true, breaks: false, async: false },
  {
    renderer: {
      // An image would be fetched the moment it renders (a zero-click request to any server the
      // model names): show it as a link the reader may choose to follow.
      image(image: Tokens.Image): string {
        const label: Token[] = image.tokens.length ? image.tokens : [{ type: 'text', raw: image.href, text: image.href }];
        return this.link({
          type: 'link',
          raw: image.raw,
          href: image.href,
          title: image.title,
          text: image.text || image.href,
          tokens: label,
        });
      },
      // Task-list boxes as characters: form controls are not allowed in replies.
      checkbox({ checked }: Tokens.Checkbox): string {
        return checked ? '☑ ' : '☐ ';
      },
    },
  },
);

/**
 * One fenced code block (closed, or still open while streaming) shown as code without the
 * markdown parser, linear in its length; null if the text is anything else.
 */
function fencedCodeHtml(text: string): string | null {
  const lines = text.replace(/\n+$/, '').split('\n');
  const run = FENCE_LINE.exec(lines[0])?.[1];
  if (!run) return null;
  const close = lines.findIndex((line, i) => i > 0 && closesFence(line, run));
  if (close >= 0 && close !== lines.length - 1) return null;
  const body = lines.slice(1, close >= 0 ? close : undefined);
  const lang = lines[0].trim().slice(run.length).trim().split(/\s/)[0];
  const langClass = LANGUAGE_CLASS.test(`language-${lang}`) ? ` class="language-${lang}"` : '';
  return `<pre><code${langClass}>${escapeHtml(body.join('\n'))}\n</code></pre>`;
}

/** How deep tokens nest (lists, quotes, inline spans), counted without recursion. */
function nestingDepth(tokens: readonly Token[]): number {
  let deepest = 0;
  const stack: [readonly Token[], number][] = [[tokens, 1]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [level, depth] = top;
    deepest = Math.max(deepest, depth);
    for (const t of level) {
      if ('tokens' in t && t.tokens) stack.push([t.tokens, depth + 1]);
      if (t.type === 'list') stack.push([(t as Tokens.List).items, depth + 1]);
      if (t.type === 'table')
        for (const cell of [...(t as Tokens.Table).header, ...(t as Tokens.Table).rows.flat()]) stack.push([cell.tokens, depth + 1]);
    }
  }
  return deepest;
}

/**
 * Markdown → sanitized HTML string. Never throws; text it cannot render, or longer than
 * `maxChars`, is shown as text.
 */
export function renderMarkdown(markdown: string, maxChars = MAX_MARKDOWN_CHARS): string {
  if (markdown.length > maxChars) return fencedCodeHtml(markdown) ?? plainTextHtml(markdown);
  try {
    const tokens = marked.lexer(markdown);
    if (nestingDepth(tokens) > MAX_NESTING) return plainTextHtml(markdown);
    return sanitizeHtml(marked.parser(tokens));
  } catch {
    // A RangeError from nesting too deep for the parser's recursion, or any other parser or
    // sanitizer failure: the text is still shown, inert.
    return plainTextHtml(markdown);
  }
}

/**
 * Renders a reply while it streams: completed blocks are rendered once and cached, only the tail
 * is re-rendered per update, and not more often than its cost allows. `finish()` renders the whole
 * text once, for exactness, when it is short enough to parse in one go.
 */
export class StreamingMarkdown {
  private readonly splitter = new BlockSplitter();
  private readonly rendered: string[] = [];
  private tailHtml = '';
  /** Where the tail last rendered stood (blocks before it, splitter generation): a new tail if either changed. */
  private tailIndex = -1;
  private tailGeneration = -1;
  /** When the tail may be rendered again (a clock time in ms). */
  private nextTailRender = 0;

  constructor(
    private readonly render: (markdown: string, maxChars?: number) => string = renderMarkdown,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** HTML per block; entries for completed blocks stay identical between calls. */
  update(text: string): string[] {
    const tail = this.renderBlocks(text);
    if (!tail.trim()) {
      this.tailIndex = -1;
      return [...this.rendered];
    }
    // A new tail is rendered at once, a growing one when its cost allows.
    const newTail = this.tailIndex !== this.rendered.length || this.tailGeneration !== this.splitter.generation;
    if (newTail || this.now() >= this.nextTailRender) {
      const start = this.now();
      this.tailHtml = this.render(tail, MAX_STREAMING_TAIL_CHARS);
      this.tailIndex = this.rendered.length;
      this.tailGeneration = this.splitter.generation;
      const end = this.now();
      this.nextTailRender = end + TAIL_BACKOFF * (end - start);
    }
    return [...this.rendered, this.tailHtml];
  }

  /** The final rendering: the whole text at once if short enough, else the blocks as streamed. */
  finish(text: string): string[] {
    if (text.length <= MAX_MARKDOWN_CHARS) return [this.render(text)];
    const tail = this.renderBlocks(text);
    return tail.trim() ? [...this.rendered, this.render(tail)] : [...this.rendered];
  }

  /** Renders the blocks completed since the last call; returns the unfinished tail. */
  private renderBlocks(text: string): string {
    const { blocks, tail } = this.splitter.push(text);
    if (this.rendered.length > blocks.length) this.rendered.length = 0;
    for (let i = this.rendered.length; i < blocks.length; i++) this.rendered.push(this.render(blocks[i]));
    return tail;
  }
}
