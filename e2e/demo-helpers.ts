/** What the demo's browser tests ask of its page, in one place. */
import type { Page } from 'playwright-core';

/** Waits until the demo's model details line names `fileName`: that model is the one loaded. */
export function waitForLoadedModel(p: Page, fileName: string, timeout = 20_000): Promise<void> {
  return p.locator('[aria-label="Model details"]', { hasText: fileName }).waitFor({ timeout });
}
