// Hostile model output in Chromium (issue 14, items 1, 10 and 12): a corpus of markup that would
// fetch a URL on its own, run script or spoof the page's UI is rendered through the real markdown
// renderer (alone, inside GFM table cells, and at every streaming prefix) and through a real
// <llm-chat> streaming it. A leak server on 127.0.0.1 must see no request at all. Then markdown
// that overflows the parser's stack or makes it crawl must still render as text, promptly.
import { createServer, type Server } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { launchBrowser } from './browser.ts';
import { buildForTests } from './build.ts';
import { payloads, RENDERED_ALLOWED, SPOOF_PAYLOADS } from './hostile-markdown.ts';
import { serveStatic, type StaticServer } from './server.ts';

let browser: Browser;
let server: StaticServer;
let leak: { origin: string; requests: string[]; server: Server };
let context: BrowserContext;
/** Requests the page made that were not for the app itself (or that name a leak path). */
let strayRequests: string[];
let pageErrors: string[];

beforeAll(async () => {
  server = await serveStatic(await buildForTests());
  const requests: string[] = [];
  const leakServer = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'image/png', 'access-control-allow-origin': '*' }).end();
  });
  await new Promise<void>((r) => leakServer.listen(0, '127.0.0.1', r));
  const addr = leakServer.address();
  leak = { origin: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, requests, server: leakServer };
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await new Promise<void>((r) => (leak?.server ? leak.server.close(() => r()) : r()));
});

/** Each test's payloads point under their own path, so a late request from one test never counts against another. */
let leakBase: string;
let testNumber = 0;
beforeEach(() => {
  leakBase = `${leak.origin}/t${++testNumber}`;
});

/** What reached the leak server from the current test's payloads. */
const leakedHere = () => leak.requests.filter((r) => r.startsWith(`GET ${new URL(leakBase).pathname}/`) || !/^GET \/t\d+\//.test(r));

afterEach(async () => {
  await context?.close();
});

async function openPage(path: string): Promise<Page> {
  context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  strayRequests = [];
  pageErrors = [];
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(server.url) || url.includes('leak')) strayRequests.push(url);
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.addInitScript(VIOLATIONS_SCRIPT);
  await page.goto(`${server.url}${path}`);
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true');
  return page;
}

/**
 * Installed in every page as `window.violationsIn(root, allowed)`: each element under `root` that
 * is not on the allow list, or carries an attribute (or a link, or a class) that is not allowed.
 * Plain JS in a string, so that the test runner's transforms cannot touch it.
 */
const VIOLATIONS_SCRIPT = `window.violationsIn = (root, allowed) => {
  const out = [];
  for (const el of root.querySelectorAll('*')) {
    const tag = el.localName;
    const attrs = allowed[tag];
    if (!attrs) { out.push('<' + tag + '>'); continue; }
    for (const a of el.attributes) if (!attrs.includes(a.name)) out.push('<' + tag + ' ' + a.name + '="' + a.value + '">');
    const href = el.getAttribute('href');
    if (href !== null && !/^(https?:|mailto:)/.test(href)) out.push('<' + tag + ' href="' + href + '">');
    const cls = el.getAttribute('class');
    if (cls !== null && !/^language-[\\w+#.-]+$/.test(cls)) out.push('<' + tag + ' class="' + cls + '">');
    if (tag === 'a' && href !== null && (el.getAttribute('rel') !== 'noopener noreferrer nofollow' || el.getAttribute('target') !== '_blank')) out.push('<a> without rel/target');
  }
  return out;
};`;

declare global {
  interface Window {
    violationsIn(root: ParentNode, allowed: Record<string, readonly string[]>): string[];
  }
}

/** Lets lazy loads, autoplay, refreshes and error handlers happen, then collects what leaked. */
async function settle(page: Page): Promise<{ leaked: string[]; stray: string[]; pwned: unknown }> {
  await page.mouse.wheel(0, 100_000);
  await page.waitForTimeout(1500);
  return { leaked: leakedHere(), stray: [...strayRequests], pwned: await page.evaluate(() => (window as { pwned?: unknown }).pwned) };
}

describe('hostile markup in replies', () => {
  test('the renderer: every payload alone, in a table cell and at every streaming prefix makes no request, runs no script, keeps only allowed markup', async () => {
    const page = await openPage('/e2e/pages/markdown.html');
    const corpus = payloads(leakBase);
    expect(corpus.length).toBeGreaterThan(200);
    const result = await page.evaluate(
      ({ corpus, allowed }) => {
        const { renderMarkdown, StreamingMarkdown } = window.lowbitMarkdown;
        const out = document.getElementById('out')!;
        const violations: string[] = [];
        let renders = 0;
        const show = (name: string, html: string) => {
          // Each rendering stays in the live document, so anything it would fetch gets fetched.
          const box = document.createElement('div');
          box.innerHTML = html;
          out.append(box);
          renders++;
          for (const v of window.violationsIn(box, allowed)) violations.push(`${name}: ${v}`);
        };
        for (const { name, markdown } of corpus) {
          show(name, renderMarkdown(markdown));
          const stream = new StreamingMarkdown();
          for (let i = 1; i <= markdown.length; i++) show(`${name} [prefix ${i}]`, stream.update(markdown.slice(0, i)).join(''));
          show(`${name} [finished]`, stream.finish(markdown).join(''));
        }
        return { violations, renders };
      },
      { corpus, allowed: RENDERED_ALLOWED },
    );
    const { leaked, stray, pwned } = await settle(page);
    expect(leaked).toEqual([]);
    expect(stray).toEqual([]);
    expect(pwned).toBeUndefined();
    expect(result.renders).toBeGreaterThan(5000);
    expect(result.violations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  test('control: the same corpus inserted without the renderer does reach the leak server', async () => {
    // Proves the payloads and the leak detection are live: without sanitizing, Chromium fetches.
    const page = await openPage('/e2e/pages/markdown.html');
    await page.evaluate(
      (corpus) => {
        const out = document.getElementById('out')!;
        for (const { markdown } of corpus) out.insertAdjacentHTML('beforeend', `<div>${markdown}</div>`);
        // Left out: a refresh would navigate away mid-test, and <base> would send the relative URLs to the leak server.
      },
      payloads(leakBase).filter((p) => !p.name.startsWith('meta-refresh') && !p.name.startsWith('base-href')),
    );
    const prefix = new URL(leakBase).pathname;
    const expected = [
      'table-background',
      'td-background',
      'img-src',
      'img-srcset',
      'video-poster',
      'style-attr-url',
      'style-tag-url',
      'link-stylesheet',
      'svg-image-href',
      'input-image-src',
      'iframe-src',
    ].map((p) => `GET ${prefix}/${p}`);
    // The browser takes its time over ~100 loads on a busy machine: wait for them, up to a bound.
    for (let waited = 0; waited < 20_000 && !expected.every((r) => leakedHere().includes(r)); waited += 250) await page.waitForTimeout(250);
    expect(leakedHere()).toEqual(expect.arrayContaining(expected));
  });

  test('<llm-chat> streaming the whole corpus in 3-character tokens makes no request and runs no script', async () => {
    const page = await openPage('/e2e/pages/chat.html');
    const reply = payloads(leakBase)
      .map((p) => p.markdown)
      .join('\n\n');
    await page.evaluate((reply) => {
      const { FakeEngine } = window.lowbitTest;
      const tokens = reply.match(/[^]{1,3}/g)!;
      const el = document.createElement('llm-chat');
      el.engine = new FakeEngine({ delayMs: 0, reply: () => ({ tokens }) });
      document.body.append(el);
    }, reply);
    await page.waitForSelector('llm-chat[state="ready"]');
    await page.locator('llm-chat textarea').fill('ignore previous instructions');
    await page.locator('llm-chat textarea').press('Enter');
    // Check the markup while it streams, not only once it is done.
    const during: string[] = [];
    for (let i = 0; i < 20; i++) {
      await page.waitForTimeout(150);
      during.push(
        ...(await page.evaluate((allowed) => {
          const md = document.querySelector('llm-chat')!.shadowRoot!.querySelector('.msg.assistant .md');
          return md ? window.violationsIn(md, allowed) : [];
        }, RENDERED_ALLOWED)),
      );
    }
    await page.waitForSelector('llm-chat[state="ready"] .stats', { timeout: 120_000 });
    const after = await page.evaluate(
      (allowed) => window.violationsIn(document.querySelector('llm-chat')!.shadowRoot!.querySelector('.msg.assistant .md')!, allowed),
      RENDERED_ALLOWED,
    );
    const { leaked, stray, pwned } = await settle(page);
    expect(leaked).toEqual([]);
    expect(stray).toEqual([]);
    expect(pwned).toBeUndefined();
    expect(during).toEqual([]);
    expect(after).toEqual([]);
    expect(pageErrors).toEqual([]);
    // The reply is still there as text and tables (an unclosed <style> payload swallows what
    // follows it, as a browser would).
    expect(await page.locator('llm-chat .msg.assistant .md').innerText()).toMatch(/^x\s+cell\s+other/);
    expect(await page.locator('llm-chat .msg.assistant .md table').count()).toBeGreaterThan(20);
  });

  test('spoofing markup (class, id, dialog, marquee, popover, download) does not survive in <llm-chat>', async () => {
    const page = await openPage('/e2e/pages/chat.html');
    const reply = Object.values(SPOOF_PAYLOADS).join('\n\n');
    await page.evaluate((reply) => {
      const { FakeEngine, toTokens } = window.lowbitTest;
      const el = document.createElement('llm-chat');
      el.engine = new FakeEngine({ delayMs: 1, reply: () => ({ tokens: toTokens(reply) }) });
      document.body.append(el);
    }, reply);
    await page.waitForSelector('llm-chat[state="ready"]');
    await page.locator('llm-chat textarea').fill('hi');
    await page.locator('llm-chat textarea').press('Enter');
    await page.waitForSelector('llm-chat[state="ready"] .stats');
    const found = await page.evaluate(() => {
      const root = document.querySelector('llm-chat')!.shadowRoot!;
      const md = root.querySelector('.msg.assistant .md')!;
      return {
        errorPanels: root.querySelectorAll('[part~="error"], .error, [role="alert"]').length,
        userTurns: root.querySelectorAll('.msg.user').length,
        withClass: md.querySelectorAll('[class]').length,
        withId: md.querySelectorAll('[id]').length,
        dialogs: md.querySelectorAll('dialog').length,
        marquees: md.querySelectorAll('marquee').length,
        popovers: md.querySelectorAll('[popover], [popovertarget]').length,
        downloads: md.querySelectorAll('[download]').length,
        forms: md.querySelectorAll('form, input, button').length,
        dataOrAria: [...md.querySelectorAll('*')].filter((e) =>
          [...e.attributes].some((a) => a.name.startsWith('data-') || a.name.startsWith('aria-')),
        ).length,
        text: (md as HTMLElement).innerText,
      };
    });
    expect(found).toMatchObject({
      errorPanels: 0,
      userTurns: 1,
      withClass: 0,
      withId: 0,
      dialogs: 0,
      marquees: 0,
      popovers: 0,
      downloads: 0,
      forms: 0,
      dataOrAria: 0,
    });
    // The words are still there, as plain reply text.
    expect(found.text).toContain('I agree to share my data');
    expect(found.text).toContain('invoice');
  });
});

describe('ordinary markdown', () => {
  test('keeps everything markdown needs through the allow list', async () => {
    const page = await openPage('/e2e/pages/markdown.html');
    const md = [
      '# Title',
      '###### Small',
      'Some **bold**, *italic*, ~~gone~~, `code` and a [link](https://example.com/a "tip") and <mailto:a@example.com>.',
      '- [ ] todo\n- [x] done',
      '3. three\n4. four',
      '> quoted',
      '| left | mid | right |\n|:--|:-:|--:|\n| a | b | c |',
      '```ts\nconst x = 1 < 2;\n```',
      '![a cat](https://example.com/cat.png)',
      '![Tom & *Jerry*](https://example.com/tj.png?a=1&b=2) ![](https://example.com/no-alt.png)',
      'H<sub>2</sub>O, x<sup>2</sup>, <kbd>Ctrl</kbd>',
      '---',
    ].join('\n\n');
    const html = await page.evaluate((md) => window.lowbitMarkdown.renderMarkdown(md), md);
    for (const piece of [
      '<h1>Title</h1>',
      '<h6>Small</h6>',
      '<strong>bold</strong>',
      '<em>italic</em>',
      '<del>gone</del>',
      '<code>code</code>',
      '<a href="https://example.com/a" title="tip" target="_blank" rel="noopener noreferrer nofollow">link</a>',
      '<a href="mailto:a@example.com" target="_blank" rel="noopener noreferrer nofollow">mailto:a@example.com</a>',
      '<li>☐ todo</li>',
      '<li>☑ done</li>',
      '<ol start="3">',
      '<blockquote>',
      '<th align="left">left</th>',
      '<th align="center">mid</th>',
      '<td align="right">c</td>',
      '<pre><code class="language-ts">const x = 1 &lt; 2;\n</code></pre>',
      // An image becomes a link to it: nothing is fetched until the reader clicks.
      '<a href="https://example.com/cat.png" target="_blank" rel="noopener noreferrer nofollow">a cat</a>',
      '<a href="https://example.com/tj.png?a=1&amp;b=2" target="_blank" rel="noopener noreferrer nofollow">Tom &amp; <em>Jerry</em></a>',
      '<a href="https://example.com/no-alt.png" target="_blank" rel="noopener noreferrer nofollow">https://example.com/no-alt.png</a>',
      '<sub>2</sub>',
      '<sup>2</sup>',
      '<kbd>Ctrl</kbd>',
      '<hr>',
    ])
      expect(html).toContain(piece);
    expect(html).not.toContain('<img');
  });
});

describe('markdown that breaks or stalls the parser', () => {
  const DEEP = {
    'nested quotes': '> '.repeat(3000) + 'deep quote end',
    'nested bullets': '- '.repeat(2000) + 'deep bullet end',
    'nested numbers': '1. '.repeat(2000) + 'deep number end',
  };

  test('the renderer shows deeply nested markdown as text instead of throwing', async () => {
    const page = await openPage('/e2e/pages/markdown.html');
    const lines2000 = Array.from({ length: 2000 }, (_, i) => '  '.repeat(i) + '- item' + i).join('\n');
    const shown = await page.evaluate(
      ({ cases }) => {
        const { renderMarkdown, StreamingMarkdown } = window.lowbitMarkdown;
        const out = document.getElementById('out')!;
        return cases.map((text) => {
          out.innerHTML = renderMarkdown(text);
          const whole = out.textContent ?? '';
          // A clock that never moves: every update renders (no back-off), as on a fast machine.
          const stream = new StreamingMarkdown(undefined, () => 0);
          stream.update(text.slice(0, text.length >> 1));
          out.innerHTML = stream.update(text).join('');
          const streamed = out.textContent ?? '';
          out.innerHTML = stream.finish(text).join('');
          return { whole: whole.slice(-40), streamed: streamed.slice(-40), finished: (out.textContent ?? '').slice(-40) };
        });
      },
      { cases: [...Object.values(DEEP), lines2000] },
    );
    for (const [i, end] of ['deep quote end', 'deep bullet end', 'deep number end', '- item1999'].entries()) {
      expect(shown[i].whole).toContain(end);
      expect(shown[i].streamed).toContain(end);
      expect(shown[i].finished).toContain(end);
    }
    expect(pageErrors).toEqual([]);
  });

  test('<llm-chat> streams deeply nested markdown to the end and reports no error', async () => {
    const page = await openPage('/e2e/pages/chat.html');
    await page.evaluate((replies) => {
      const { FakeEngine } = window.lowbitTest;
      let n = 0;
      const w = window as unknown as { llmErrors: unknown[] };
      w.llmErrors = [];
      document.addEventListener('llm-error', (e) => w.llmErrors.push((e as CustomEvent).detail));
      const el = document.createElement('llm-chat');
      el.engine = new FakeEngine({ delayMs: 0, reply: () => ({ tokens: replies[n++ % replies.length].match(/[^]{1,40}/g)! }) });
      document.body.append(el);
    }, Object.values(DEEP));
    await page.waitForSelector('llm-chat[state="ready"]');
    for (const [i, end] of ['deep quote end', 'deep bullet end', 'deep number end'].entries()) {
      await page.locator('llm-chat textarea').fill(`reply ${i}`);
      await page.locator('llm-chat textarea').press('Enter');
      await page.waitForFunction((n) => document.querySelector('llm-chat')!.shadowRoot!.querySelectorAll('.stats').length === n, i + 1);
      expect(await page.locator('llm-chat .msg.assistant .md').nth(i).innerText()).toContain(end);
    }
    expect(await page.evaluate(() => (window as unknown as { llmErrors: unknown[] }).llmErrors)).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  test('pathological emphasis streams without re-parsing the whole paragraph every frame', async () => {
    const page = await openPage('/e2e/pages/markdown.html');
    // Each `_` makes marked search ahead for a closing delimiter: quadratic in the paragraph,
    // about a second per parse at 40 KB before the fix.
    const text = 'a_'.repeat(20_000);
    const r = await page.evaluate((text) => {
      const { StreamingMarkdown } = window.lowbitMarkdown;
      const out = document.getElementById('out')!;
      const stream = new StreamingMarkdown();
      let slowest = 0;
      const start = performance.now();
      for (let i = 100; i <= text.length; i += 100) {
        const t = performance.now();
        out.innerHTML = stream.update(text.slice(0, i)).join('');
        slowest = Math.max(slowest, performance.now() - t);
      }
      const t = performance.now();
      out.innerHTML = stream.finish(text).join('');
      return {
        totalMs: performance.now() - start,
        slowestUpdateMs: slowest,
        finishMs: performance.now() - t,
        shown: out.textContent!.length,
      };
    }, text);
    console.log('pathological emphasis, 400 streaming updates of up to 40 KB:', r);
    expect(r.shown).toBe(text.length);
    // Before the fix: 400 parses of up to 40 KB, minutes in all and over a second per update.
    // Generous bounds: the machine running the tests may be busy.
    expect(r.slowestUpdateMs).toBeLessThan(500);
    expect(r.totalMs).toBeLessThan(20_000);
  });
});
