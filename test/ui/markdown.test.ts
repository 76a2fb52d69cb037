// The parts of reply rendering that need no DOM (the sanitizer itself is tested in Chromium:
// e2e/exfiltration.test.ts). Node has no `window`, so here a render that reaches the sanitizer
// falls back to escaped text, which is what these tests rely on where noted.
import { describe, expect, test } from 'vitest';
import { MAX_MARKDOWN_CHARS, renderMarkdown, StreamingMarkdown } from '../../src/ui/markdown.ts';
import { escapeHtml, isSafeLinkUrl, plainTextHtml } from '../../src/ui/sanitize.ts';

describe('link URLs', () => {
  test('only absolute http(s) and mailto URLs are links', () => {
    for (const ok of ['https://example.com/a?b#c', 'http://127.0.0.1:8080/', 'mailto:a@example.com', 'HTTPS://EXAMPLE.COM'])
      expect(isSafeLinkUrl(ok), ok).toBe(true);
    for (const bad of [
      'javascript:alert(1)',
      ' javascript:alert(1)',
      'java\tscript:alert(1)',
      'JaVaScRiPt:alert(1)',
      'vbscript:msgbox(1)',
      'data:text/html,<script>1</script>',
      'blob:https://example.com/uuid',
      'file:///etc/passwd',
      '/relative/path',
      '//example.com/protocol-relative',
      '?query',
      '#fragment',
      '',
    ])
      expect(isSafeLinkUrl(bad), bad).toBe(false);
  });
});

describe('text shown as text', () => {
  test('escapeHtml leaves no markup and no way out of a quoted attribute', () => {
    expect(escapeHtml(`<img src=x onerror="a('b')">&amp;`)).toBe('&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;amp;');
  });

  test('plainTextHtml keeps paragraphs and line breaks', () => {
    expect(plainTextHtml('one\ntwo\n\n<b>three</b>\n \n')).toBe('<p>one<br>two</p><p>&lt;b&gt;three&lt;/b&gt;</p>');
  });
});

describe('renderMarkdown on hostile input', () => {
  test('markdown nested deeper than the parser can recurse renders as text instead of throwing', () => {
    for (const deep of ['> '.repeat(3000) + 'end', '- '.repeat(2000) + 'end', '1. '.repeat(2000) + 'end']) {
      let html = '';
      expect(() => (html = renderMarkdown(deep))).not.toThrow();
      expect(html).toMatch(/end<\/p>$/);
    }
  });

  test('a block over the size limit is not parsed: text is escaped, a fenced code block stays code', () => {
    const para = '<img src=https://evil.example/x> a_'.repeat(MAX_MARKDOWN_CHARS / 10);
    expect(renderMarkdown(para)).toBe(plainTextHtml(para));
    expect(renderMarkdown(para)).not.toContain('<img');
    const code = '```js\n' + 'if (a < b) x();\n'.repeat(MAX_MARKDOWN_CHARS / 10) + '```\n\n';
    const html = renderMarkdown(code);
    expect(html.startsWith('<pre><code class="language-js">if (a &lt; b) x();\n')).toBe(true);
    expect(html.endsWith('x();\n</code></pre>')).toBe(true);
    // Still open while streaming: shown as code too.
    expect(renderMarkdown(code.slice(0, -5)).startsWith('<pre><code class="language-js">')).toBe(true);
    // A fence that closes before other text is not one code block: text.
    const mixed = code.slice(0, -1) + 'after\n';
    expect(renderMarkdown(mixed)).toBe(plainTextHtml(mixed));
    // An info string that is not a plain language name gives no class.
    expect(renderMarkdown('```x" onclick="y\n' + 'a\n'.repeat(MAX_MARKDOWN_CHARS)).startsWith('<pre><code>')).toBe(true);
  });
});

describe('StreamingMarkdown', () => {
  /** A renderer that costs `costMs` on a fake clock, and counts its calls. */
  function slowRenderer(costMs: number) {
    const clock = { now: 0 };
    const calls: string[] = [];
    const render = (md: string) => {
      clock.now += costMs;
      calls.push(md);
      return `[${md}]`;
    };
    return { clock, calls, render };
  }

  test('a slow unfinished block is re-rendered at most about a fifth of the time', () => {
    const { clock, calls, render } = slowRenderer(100);
    const s = new StreamingMarkdown(render, () => clock.now);
    const text = 'word '.repeat(200);
    for (let i = 5; i <= text.length; i += 5) {
      s.update(text.slice(0, i));
      clock.now += 16; // one frame
    }
    // 200 updates; at 100 ms per render every update would render: 20 s of a 23 s stream.
    expect(calls.length).toBeLessThanOrEqual(Math.ceil(clock.now / 500) + 1);
    expect(calls.length).toBeGreaterThan(1);
    // The final rendering is exact, whatever was skipped.
    expect(s.finish(text)).toEqual([`[${text}]`]);
  });

  test('a fast unfinished block is re-rendered on every update', () => {
    const { clock, calls, render } = slowRenderer(0);
    const s = new StreamingMarkdown(render, () => clock.now);
    for (const t of ['a', 'ab', 'abc']) expect(s.update(t)).toEqual([`[${t}]`]);
    expect(calls).toEqual(['a', 'ab', 'abc']);
  });

  test('a block that completes is rendered at once, and so is the new tail after it', () => {
    const { clock, calls, render } = slowRenderer(100);
    const s = new StreamingMarkdown(render, () => clock.now);
    s.update('first');
    expect(s.update('first para')).toEqual(['[first]']); // still backing off: the old tail stays
    expect(s.update('first para\n\nsec')).toEqual(['[first para\n\n]', '[sec]']);
    expect(calls).toEqual(['first', 'first para\n\n', 'sec']);
  });

  test('a replaced text (a new reply) is rendered at once, not hidden behind the old one', () => {
    const { clock, render } = slowRenderer(100);
    const s = new StreamingMarkdown(render, () => clock.now);
    expect(s.update('old reply')).toEqual(['[old reply]']);
    expect(s.update('new')).toEqual(['[new]']);
  });

  test('a long reply is finished from its blocks, not parsed again as a whole', () => {
    const { clock, calls, render } = slowRenderer(0);
    const s = new StreamingMarkdown(render, () => clock.now);
    const text = ('paragraph '.repeat(50) + '\n\n').repeat(Math.ceil(MAX_MARKDOWN_CHARS / 500) + 1) + 'end';
    s.update(text);
    const before = calls.length;
    const out = s.finish(text);
    expect(out.length).toBeGreaterThan(2);
    expect(out.at(-1)).toBe('[end]');
    expect(calls.slice(before)).toEqual(['end']);
  });
});
