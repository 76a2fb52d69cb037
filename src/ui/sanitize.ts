/**
 * The one gate between model output and the page: HTML from the markdown renderer goes through an
 * ALLOW list of the tags and attributes markdown needs, and nothing else survives.
 *
 * Model output is hostile (prompt injection can make a model emit anything), so the danger is not
 * only script: any markup that makes the browser fetch a URL on its own leaks data with no click
 * (`<table background=…>`, `<img src=…>`, `srcset`, `poster`, CSS `url()`, `<link>`, `<meta>`…),
 * and any markup that looks like the page's own UI (classes, ids, `<dialog open>`, popovers) can
 * spoof an error panel or a user turn. A forbid list misses whatever it did not think of; an allow
 * list fails closed.
 *
 * - Tags: text structure only. No `img`: a remote image is itself a zero-click request, and a
 *   data: image is a pixel-perfect way to fake UI; markdown images are rendered as links instead
 *   (src/ui/markdown.ts).
 * - URLs: the only URL-bearing attribute kept is `a[href]`, and only absolute http(s) and mailto
 *   URLs. Links open in a new tab with rel="noopener noreferrer nofollow".
 * - `class` only as `language-*` on `code` (what fenced code blocks produce); no `id`, `style`,
 *   `name`, data-/aria- attributes or event handlers.
 */
import DOMPurify from 'dompurify';

const ALLOWED_TAGS = [
  'p',
  'br',
  'hr',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'strong',
  'em',
  'del',
  's',
  'b',
  'i',
  'sub',
  'sup',
  'kbd',
  'code',
  'pre',
  'blockquote',
  'ul',
  'ol',
  'li',
  'table',
  'thead',
  'tbody',
  'tr',
  'th',
  'td',
  'a',
];

/** The attributes each tag may keep; a tag not listed keeps none. */
const ATTRIBUTES_BY_TAG: Record<string, readonly string[]> = {
  a: ['href', 'title'],
  ol: ['start'],
  th: ['align'],
  td: ['align'],
  code: ['class'],
};

const ALLOWED_ATTR = [...new Set(Object.values(ATTRIBUTES_BY_TAG).flat())];

/** The one class a reply may carry: a fenced code block's language, as marked writes it. */
export const LANGUAGE_CLASS = /^language-[\w+#.-]{1,40}$/;

const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/**
 * True for an absolute http(s) or mailto URL. Relative URLs are refused too: they resolve against
 * whatever page embeds the chat, which model output has no business pointing into.
 */
export function isSafeLinkUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  return LINK_PROTOCOLS.has(new URL(value).protocol);
}

function isAllowedValue(attr: string, value: string): boolean {
  switch (attr) {
    case 'href':
      return isSafeLinkUrl(value);
    case 'class':
      return LANGUAGE_CLASS.test(value);
    case 'start':
      return /^\d{1,9}$/.test(value);
    case 'align':
      return /^(left|right|center)$/.test(value);
    case 'title':
      return true;
    default:
      return false;
  }
}

let purifier: ReturnType<typeof DOMPurify> | null = null;

function getPurifier(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  const p = DOMPurify(window);
  p.addHook('uponSanitizeAttribute', (node, data) => {
    const tag = node.nodeName.toLowerCase();
    const name = data.attrName.toLowerCase();
    const allowed = Object.hasOwn(ATTRIBUTES_BY_TAG, tag) && ATTRIBUTES_BY_TAG[tag]!.includes(name);
    if (!allowed || !isAllowedValue(name, data.attrValue)) data.keepAttr = false;
  });
  p.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  });
  purifier = p;
  return p;
}

/** HTML (from the markdown renderer, i.e. ultimately from the model) → HTML safe to insert. */
export function sanitizeHtml(html: string): string {
  return getPurifier().sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    // Belt and braces with the per-attribute check above; DOMPurify applies this pattern to every
    // attribute it does not know to be URI-free, so the non-URL ones are named.
    ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
    ADD_URI_SAFE_ATTR: ['start', 'align'],
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
  }) as unknown as string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text → HTML that shows exactly that text (safe in element content and quoted attributes). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Text shown as text: paragraphs at blank lines, line breaks kept, nothing interpreted. */
export function plainTextHtml(text: string): string {
  return text
    .split(/\n[ \t]*\n/)
    .filter((para) => para.trim() !== '')
    .map((para) => `<p>${escapeHtml(para).replace(/\n/g, '<br>')}</p>`)
    .join('');
}
