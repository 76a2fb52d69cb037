// Keyboard use of <llm-chat> and the demo: Stop (Enter on it) gives the focus back to the message
// box; Escape stops a reply from anywhere on the page; on the demo's picker the arrow keys only
// choose (Load loads); the download warning takes the focus and closes with Escape; the open
// cached-models panel comes before the chat in Tab order.
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const suite = useBrowserSuite();

/** What has the focus, through shadow roots: "tag[part or aria-label or text]". */
const focused = (p: Page) =>
  p.evaluate(() => {
    let el: Element | null = document.activeElement;
    while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
    if (!el) return 'none';
    const name = el.getAttribute('part') ?? el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 40) ?? '';
    return `${el.tagName.toLowerCase()}[${name}]`;
  });

async function slowChat(): Promise<Page> {
  const { page } = await suite.openPage('/e2e/pages/chat.html', { viewport: { width: 720, height: 560 } });
  await page.evaluate(() => {
    const { FakeEngine, toTokens } = window.lowbitTest;
    const outside = document.createElement('button');
    outside.textContent = 'Elsewhere';
    document.body.append(outside);
    const el = document.createElement('llm-chat');
    el.engine = new FakeEngine({
      delayMs: 30,
      reply: () => ({ tokens: toTokens(Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ')) }),
    });
    document.body.append(el);
  });
  await page.waitForSelector('llm-chat[state="ready"]');
  return page;
}

test('Enter on Stop stops the reply and the focus goes back to the message box', async () => {
  const p = await slowChat();
  await p.locator('llm-chat textarea').fill('go');
  await p.keyboard.press('Enter');
  await p.waitForSelector('llm-chat[state="generating"]');
  await p.keyboard.press('Tab');
  expect(await focused(p)).toBe('button[stop-button]');
  await p.keyboard.press('Enter');
  await p.waitForSelector('llm-chat[state="ready"]');
  expect(await focused(p)).toBe('textarea[input]');
  expect(await p.locator('llm-chat [part~="stats"]').last().innerText()).toContain('stopped');
});

test('Escape stops a reply from anywhere on the page', async () => {
  const p = await slowChat();
  await p.locator('llm-chat textarea').fill('go');
  await p.keyboard.press('Enter');
  await p.waitForSelector('llm-chat[state="generating"]');
  await p.getByRole('button', { name: 'Elsewhere' }).focus();
  await p.keyboard.press('Escape');
  await p.waitForSelector('llm-chat[state="ready"]');
  expect(await p.locator('llm-chat [part~="stats"]').last().innerText()).toContain('stopped');
  expect(await focused(p)).toBe('button[Elsewhere]');
});

async function openDemo(): Promise<Page> {
  const { page } = await suite.openPage('/e2e/pages/demo.html', { viewport: { width: 1100, height: 720 } });
  page.on('dialog', (d) => void d.accept());
  await page.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  return page;
}

test('demo picker: arrows only choose, Load (Tab, Enter) loads; the warning takes the focus and Escape closes it', async () => {
  const p = await openDemo();
  const picker = p.locator('select[aria-label="Model"]');
  await picker.focus();
  await p.keyboard.press('ArrowDown');
  await p.keyboard.press('ArrowDown');
  expect(await picker.inputValue()).toBe('entry:smollm2-135m-q8');
  // Nothing started loading: the bundled model still runs.
  expect(await p.locator('llm-chat').getAttribute('state')).toBe('ready');
  expect(await p.locator('[aria-label="Model details"]').innerText()).toContain('tinystories-llama-3M-Q4_K_M.gguf');
  await p.keyboard.press('Tab');
  expect(await focused(p)).toBe('button[Load]');
  await p.keyboard.press('Enter');
  const banner = p.locator('[role="alertdialog"]');
  await banner.waitFor();
  expect(await focused(p)).toBe('div[Download warning]');
  await p.screenshot({ path: join(ARTIFACTS, 'keyboard-warning.png') });
  await p.keyboard.press('Escape');
  expect(await banner.count()).toBe(0);
  expect(await picker.inputValue()).toBe('entry:tinystories-3m');
  expect(await focused(p)).toBe('select[Model]');
  expect(await p.locator('llm-chat').getAttribute('state')).toBe('ready');
});

test('demo: the open cached-models panel comes before the chat in Tab order', async () => {
  const p = await openDemo();
  await p.getByRole('button', { name: 'Cached models' }).click();
  await p.locator('lowbit-model-cache li').first().waitFor();
  expect(await focused(p)).toBe('button[Close cached models]');
  const order: string[] = [];
  for (let i = 0; i < 12; i++) {
    await p.keyboard.press('Tab');
    const f = await focused(p);
    order.push(f);
    if (f === 'textarea[input]') break;
  }
  const panelButton = order.findIndex((f) => f.startsWith('button[Load ') || f.startsWith('button[Delete '));
  expect(panelButton).toBeGreaterThanOrEqual(0);
  expect(order.indexOf('textarea[input]')).toBeGreaterThan(panelButton);
});
