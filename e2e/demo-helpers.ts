/** What the demo's browser tests ask of its page, in one place. */
import type { Page } from 'playwright-core';

/** Waits until the demo's model details line names `fileName`: that model is the one loaded. */
export function waitForLoadedModel(p: Page, fileName: string, timeout = 20_000): Promise<void> {
  return p.locator('[aria-label="Model details"]', { hasText: fileName }).waitFor({ timeout });
}

/** Sends `text` in the demo's chat and returns the reply once its stats line shows: the `n`-th reply of the page. */
export async function askDemo(p: Page, text: string, n: number, timeout = 30_000): Promise<string> {
  await p.locator('llm-chat textarea').fill(text);
  await p.locator('llm-chat textarea').press('Enter');
  await p.waitForFunction(
    (n) =>
      document.querySelector('lowbit-demo')!.shadowRoot!.querySelector('llm-chat')!.shadowRoot!.querySelectorAll('.stats').length === n,
    n,
    { timeout },
  );
  return p
    .locator('llm-chat .msg.assistant .md')
    .nth(n - 1)
    .innerText();
}
