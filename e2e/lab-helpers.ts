/** What the quantization lab's browser tests do on its page, in one place. */
import type { Page } from 'playwright-core';

/** Ticks exactly `types` among the lab's target types. */
export async function pickTypes(page: Page, types: readonly string[]): Promise<void> {
  for (const box of await page.locator('input[name="type"]').all()) {
    const want = types.includes((await box.getAttribute('value'))!);
    if ((await box.isChecked()) !== want) await box.click();
  }
}

/** The `data-status` of the results row labelled `label`. */
export function rowStatus(page: Page, label: string): Promise<string | null> {
  return page.locator(`table[aria-label="Results"] tr[data-label="${label}"]`).getAttribute('data-status');
}
