// The demo on phone-sized screens, light and dark: no horizontal scroll anywhere (the picker, the
// header buttons, the bubbles and the cached-models panel fit 360 px), and the panel closes with
// its Close button and with Escape. Screenshots go to e2e/artifacts/.
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const suite = useBrowserSuite();

const overflow = (p: Page) => p.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth }));

for (const [width, height] of [
  [360, 740],
  [390, 844],
] as const) {
  for (const scheme of ['light', 'dark'] as const) {
    test(`${width}×${height} ${scheme}: nothing is wider than the screen; the cached panel closes with a button and with Escape`, async () => {
      const { page: p } = await suite.openPage('/e2e/pages/demo.html', {
        viewport: { width, height },
        colorScheme: scheme,
        isMobile: true,
        hasTouch: true,
      });
      await p.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
      await p.locator('[aria-label="Story openings"] button').first().click();
      await p.waitForSelector('llm-chat .msg.assistant .stats');
      await p.screenshot({ path: join(ARTIFACTS, `phone-${width}-${scheme}.png`) });
      const chat = await overflow(p);
      expect(chat.scrollWidth).toBeLessThanOrEqual(chat.innerWidth);
      // Every control of the header is inside the screen.
      for (const name of ['Model', 'Cached models', 'Open .gguf…', 'Send message']) {
        const box = await p
          .getByRole(name === 'Model' ? 'combobox' : 'button', { name })
          .first()
          .boundingBox();
        expect(box, name).not.toBeNull();
        expect(box!.x + box!.width, name).toBeLessThanOrEqual(width);
      }
      // A chosen, not yet loaded model shows Load beside the picker: still inside the screen.
      await p.locator('select[aria-label="Model"]').selectOption('entry:qwen2.5-0.5b-q4km');
      const load = await p.getByRole('button', { name: 'Load', exact: true }).boundingBox();
      expect(load!.x + load!.width).toBeLessThanOrEqual(width);
      const chosen = await overflow(p);
      expect(chosen.scrollWidth).toBeLessThanOrEqual(chosen.innerWidth);
      await p.screenshot({ path: join(ARTIFACTS, `phone-${width}-${scheme}-load.png`) });
      const toggle = p.getByRole('button', { name: 'Cached models' });
      await toggle.click();
      const panel = p.locator('aside#cache');
      await panel.locator('lowbit-model-cache li').first().waitFor();
      await p.screenshot({ path: join(ARTIFACTS, `phone-${width}-${scheme}-cache.png`) });
      const open = await overflow(p);
      expect(open.scrollWidth).toBeLessThanOrEqual(open.innerWidth);
      await panel.getByRole('button', { name: 'Close cached models' }).click();
      expect(await panel.count()).toBe(0);
      expect(await toggle.getAttribute('aria-expanded')).toBe('false');
      // Focus goes back to the toggle that opened it.
      expect(await p.evaluate(() => document.querySelector('lowbit-demo')!.shadowRoot!.activeElement?.textContent?.trim())).toBe(
        'Cached models',
      );
      await toggle.click();
      await panel.waitFor();
      await p.keyboard.press('Escape');
      expect(await panel.count()).toBe(0);
    });
  }
}
