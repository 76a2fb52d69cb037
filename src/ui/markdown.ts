/**
 * Assistant replies as sanitized HTML: markdown (GFM, code blocks) through `marked`, then
 * DOMPurify, so model output can never run script: <script>, event-handler attributes
 * (onerror=…), javascript: links and embedded content are removed, and links open in a new tab
 * without an opener.
 */
import DOMPurify from 'dompurify';
import { Marked } from 'marked';
import { BlockSplitter } from './markdown-blocks.ts';

const marked = new Marked({ gfm: true, breaks: false, async: false });

// Remote media would let model output ping arbitrary servers and breaks offline use; forms and
// frames have no business in a chat reply.
const FORBID_TAGS = ['style', 'img', 'picture', 'video', 'audio', 'source', 'iframe', 'object', 'embed', 'form', 'input', 'button', 'textarea', 'select', 'link', 'meta', 'base', 'svg', 'math'];

let purifier: ReturnType<typeof DOMPurify> | null = null;

function getPurifier(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  const p = DOMPurify(window);
  p.addHook('afterSanitizeAttributes', (node) => {
    if (node instanceof Element && node.tagName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  });
  purifier = p;
  return p;
}

/** Markdown → sanitized HTML string. */
export function renderMarkdown(markdown: string): string {
  const html = marked.parse(markdown) as string;
  return getPurifier().sanitize(html, {
    FORBID_TAGS,
    FORBID_ATTR: ['style', 'srcset', 'action', 'formaction'],
    ALLOW_DATA_ATTR: false,
  }) as unknown as string;
}

/**
 * Renders a reply while it streams: completed blocks are rendered once and cached, only the tail
 * is re-rendered per update. `finish()` renders the whole text once, for exactness.
 */
export class StreamingMarkdown {
  private readonly splitter = new BlockSplitter();
  private readonly rendered: string[] = [];

  /** HTML per block; entries for completed blocks stay identical between calls. */
  update(text: string): string[] {
    const { blocks, tail } = this.splitter.push(text);
    if (this.rendered.length > blocks.length) this.rendered.length = 0;
    for (let i = this.rendered.length; i < blocks.length; i++) this.rendered.push(renderMarkdown(blocks[i]));
    return tail.trim() ? [...this.rendered, renderMarkdown(tail)] : [...this.rendered];
  }

  finish(text: string): string[] {
    return [renderMarkdown(text)];
  }
}
