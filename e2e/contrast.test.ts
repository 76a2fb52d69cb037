// Contrast of the demo and <llm-chat>, light and dark (WCAG 2.1 AA): text at least 4.5:1 against
// what is behind it, and the boundary of every control (its border or its own background) at least
// 3:1 against its surroundings. Computed from the computed styles of the rendered page, through
// shadow roots, with the download warning, a reply, an error and the cached panel on screen.
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const suite = useBrowserSuite();

interface Finding {
  what: string;
  ratio: number;
  need: number;
}

/** Runs in the page: every text and control, its contrast and the minimum it needs. */
function measure(): Finding[] {
  type RGBA = [number, number, number, number];
  const parse = (c: string): RGBA => {
    const nums = c.match(/[\d.]+/g)?.map(Number) ?? [0, 0, 0, 0];
    if (c.startsWith('color(srgb')) return [nums[0]! * 255, nums[1]! * 255, nums[2]! * 255, nums[3] ?? 1];
    return [nums[0]!, nums[1]!, nums[2]!, nums[3] ?? 1];
  };
  const over = (top: RGBA, bottom: RGBA): RGBA => {
    const a = top[3];
    return [top[0] * a + bottom[0] * (1 - a), top[1] * a + bottom[1] * (1 - a), top[2] * a + bottom[2] * (1 - a), 1];
  };
  const lum = ([r, g, b]: RGBA) => {
    const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a: RGBA, b: RGBA) => {
    const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m);
    return (x! + 0.05) / (y! + 0.05);
  };
  const parentOf = (el: Element): Element | null => el.parentElement ?? (el.parentNode as ShadowRoot | null)?.host ?? null;
  /** The colour behind an element: its ancestors' backgrounds composed, white at the bottom. */
  const backdrop = (el: Element | null): RGBA => {
    const layers: RGBA[] = [];
    for (let e = el; e; e = parentOf(e)) layers.push(parse(getComputedStyle(e).backgroundColor));
    let colour: RGBA = parse(getComputedStyle(document.documentElement).backgroundColor)[3]
      ? parse(getComputedStyle(document.documentElement).backgroundColor)
      : [255, 255, 255, 1];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const visible = (el: Element) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return (
      r.width > 2 && r.height > 2 && s.visibility !== 'hidden' && s.display !== 'none' && !el.closest('[hidden]') && Number(s.opacity) > 0.1
    );
  };
  const name = (el: Element) =>
    `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''} "${(el.textContent ?? '').trim().slice(0, 30)}"`;
  const out: Finding[] = [];
  const walk = (root: Document | ShadowRoot) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      if (!visible(el) || (el as HTMLButtonElement).disabled || el.closest('.sr-only')) continue;
      const style = getComputedStyle(el);
      const ownText = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim());
      const behind = backdrop(el);
      if (ownText) out.push({ what: `text ${name(el)}`, ratio: ratio(over(parse(style.color), behind), behind), need: 4.5 });
      if (el.matches('button, select, textarea, input:not([type=file])')) {
        const around = backdrop(parentOf(el));
        const fill = over(parse(style.backgroundColor), around);
        const border = parseFloat(style.borderTopWidth) > 0 ? ratio(over(parse(style.borderTopColor), around), around) : 1;
        out.push({ what: `boundary ${name(el)}`, ratio: Math.max(border, ratio(fill, around)), need: 3 });
      }
    }
  };
  walk(document);
  return out;
}

async function screen(p: Page, scheme: string, step: string): Promise<Finding[]> {
  await p.screenshot({ path: join(ARTIFACTS, `contrast-${scheme}-${step}.png`) });
  const found = await p.evaluate(measure);
  return found.filter((f) => f.ratio < f.need).map((f) => ({ ...f, what: `${step}: ${f.what}`, ratio: Math.round(f.ratio * 100) / 100 }));
}

for (const scheme of ['light', 'dark'] as const) {
  test(`${scheme}: text ≥ 4.5:1 and control boundaries ≥ 3:1 on every screen of the demo`, async () => {
    const { page: p } = await suite.openPage('/e2e/pages/demo.html', { viewport: { width: 1100, height: 720 }, colorScheme: scheme });
    p.on('dialog', (d) => void d.accept());
    await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
    const failures: Finding[] = [];
    await p.locator('[aria-label="Story openings"] button').first().click();
    await p.waitForSelector('llm-chat .msg.assistant .stats');
    failures.push(...(await screen(p, scheme, 'reply')));
    await p.locator('select[aria-label="Model"]').selectOption('entry:smollm2-135m-q4km');
    await p.getByRole('button', { name: 'Load', exact: true }).click();
    await p.locator('[role="alertdialog"]').waitFor();
    failures.push(...(await screen(p, scheme, 'warning')));
    await p.getByRole('button', { name: 'Cancel' }).click();
    await p.locator('input[type=file]').setInputFiles({ name: 'notes.gguf', mimeType: 'text/plain', buffer: Buffer.from('not a model') });
    await p.waitForSelector('llm-chat[state="error"]');
    failures.push(...(await screen(p, scheme, 'error')));
    await p.getByRole('button', { name: 'Cached models' }).click();
    await p.locator('lowbit-model-cache li').first().waitFor();
    failures.push(...(await screen(p, scheme, 'cache')));
    expect(failures).toEqual([]);
  });
}
