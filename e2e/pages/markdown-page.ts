// Test page script: exposes the real markdown renderer and sanitizer to Playwright's page.evaluate().
import { renderMarkdown, StreamingMarkdown } from '../../src/ui/markdown.ts';
import { sanitizeHtml } from '../../src/ui/sanitize.ts';

const lowbitMarkdown = { renderMarkdown, StreamingMarkdown, sanitizeHtml };

declare global {
  interface Window {
    lowbitMarkdown: typeof lowbitMarkdown;
  }
}

window.lowbitMarkdown = lowbitMarkdown;
document.documentElement.dataset.ready = 'true';
