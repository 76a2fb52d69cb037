// Switching models in the demo (fake engine worker): a failed or cancelled switch keeps the model
// that runs, with "Back to <model>" beside Retry; a new model starts a new conversation and says
// so; the picker always shows the model that is loaded. Screenshots go to e2e/artifacts/.
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { waitForLoadedModel } from './demo-helpers.ts';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const suite = useBrowserSuite();
const BUNDLED = 'tinystories-llama-3M-Q4_K_M.gguf';

async function openDemo(): Promise<Page> {
  const { page } = await suite.openPage('/e2e/pages/demo.html', { viewport: { width: 1100, height: 720 } });
  page.on('dialog', (d) => void d.accept());
  await page.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  return page;
}

const picker = (p: Page) => p.locator('select[aria-label="Model"]');
const pickerValue = (p: Page) => picker(p).inputValue();
const pickerText = (p: Page) => picker(p).evaluate((s: HTMLSelectElement) => s.selectedOptions[0]?.textContent?.trim() ?? '');
const details = (p: Page) => p.locator('[aria-label="Model details"]').innerText();
const chatState = (p: Page) => p.locator('llm-chat').getAttribute('state');
const turns = (p: Page) => p.locator('llm-chat .msg').count();

async function storyTurn(p: Page): Promise<void> {
  await p.locator('[aria-label="Story openings"] button').first().click();
  await p.waitForSelector('llm-chat .msg.assistant .stats');
}

const gguf = (name: string) => ({
  name,
  mimeType: 'application/octet-stream',
  buffer: Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(60)]),
});

test('a failed switch keeps the model that runs: "Back to" it beside Retry, with its conversation', async () => {
  const p = await openDemo();
  await storyTurn(p);
  await p.locator('input[type=file]').setInputFiles({ name: 'notes.gguf', mimeType: 'text/plain', buffer: Buffer.from('just notes') });
  await p.waitForSelector('llm-chat[state="error"]');
  const box = p.locator('llm-chat [part~="error"]').last();
  expect(await box.innerText()).toContain('This file is not a model lowbit can read');
  expect(await box.getByRole('button').allInnerTexts()).toEqual(['Retry', `Back to ${BUNDLED}`]);
  // The picker still names what runs.
  expect(await pickerValue(p)).toBe('entry:tinystories-3m');
  await p.screenshot({ path: join(ARTIFACTS, 'demo-switch-failed.png') });
  await box.getByRole('button', { name: `Back to ${BUNDLED}` }).click();
  await p.waitForSelector('llm-chat[state="ready"]');
  expect(await turns(p)).toBe(2);
  expect(await details(p)).toContain(BUNDLED);
  // And it still answers.
  await p.locator('llm-chat textarea').fill('The cat');
  await p.keyboard.press('Enter');
  await p.locator('llm-chat .msg.assistant .stats').nth(1).waitFor();
});

test('a cancelled switch keeps the model that runs, and the picker shows it', async () => {
  const p = await openDemo();
  await p.locator('input[type=file]').setInputFiles(gguf('slow-story.gguf'));
  await p.waitForSelector('llm-chat[state="loading"] [role="progressbar"]');
  // While the next model loads, the picker and the details still name the one that runs.
  expect(await pickerValue(p)).toBe('entry:tinystories-3m');
  await p.locator('llm-chat [part~="cancel-button"]').click();
  await p.waitForSelector('llm-chat[state="ready"]');
  expect(await details(p)).toContain(BUNDLED);
  expect(await pickerValue(p)).toBe('entry:tinystories-3m');
  expect(await p.locator('llm-chat').evaluate((el: HTMLElement) => el.shadowRoot!.querySelector('.status')?.textContent ?? '')).toContain(
    `${BUNDLED} is ready`,
  );
});

test('a new model starts a new conversation and says so; the picker follows every change', async () => {
  const p = await openDemo();
  await storyTurn(p);
  // Cancel on the download warning: nothing changes, the picker shows the bundled model again.
  await picker(p).selectOption('entry:smollm2-135m-q4km');
  expect(await chatState(p)).toBe('ready');
  await p.getByRole('button', { name: 'Load', exact: true }).click();
  const banner = p.locator('[role="alertdialog"]');
  await banner.waitFor();
  await banner.getByRole('button', { name: 'Cancel' }).click();
  expect(await pickerValue(p)).toBe('entry:tinystories-3m');
  expect(await p.getByRole('button', { name: 'Load', exact: true }).count()).toBe(0);
  // Download anyway: the new model replaces the conversation, and the page says so.
  await picker(p).selectOption('entry:smollm2-135m-q4km');
  await p.getByRole('button', { name: 'Load', exact: true }).click();
  await p.getByRole('button', { name: 'Download anyway' }).click();
  await waitForLoadedModel(p, 'SmolLM2-135M-Instruct-Q4_K_M.gguf');
  await p.waitForSelector('llm-chat[state="ready"]');
  expect(await turns(p)).toBe(0);
  const status = await p.locator('llm-chat').evaluate((el: HTMLElement) => el.shadowRoot!.querySelector('.status')?.textContent ?? '');
  expect(status).toContain(`Switched from ${BUNDLED} to SmolLM2-135M-Instruct-Q4_K_M.gguf: a new conversation started.`);
  expect(await pickerValue(p)).toBe('entry:smollm2-135m-q4km');
  await p.screenshot({ path: join(ARTIFACTS, 'demo-switch-new-conversation.png') });
  // Loading from the cached-models panel moves the picker too.
  await p.getByRole('button', { name: 'Cached models' }).click();
  const panel = p.locator('lowbit-model-cache');
  await panel.getByRole('button', { name: `Load ${BUNDLED}` }).click();
  await waitForLoadedModel(p, BUNDLED);
  expect(await pickerValue(p)).toBe('entry:tinystories-3m');
  // Deleting the model in use unloads it: the picker says no model is loaded.
  await panel.getByRole('button', { name: `Delete ${BUNDLED}` }).click();
  await p.waitForSelector('llm-chat[state="idle"]');
  expect(await pickerValue(p)).toBe('');
  expect(await pickerText(p)).toBe('No model loaded');
  // A file from disk is named in the picker.
  await p.locator('input[type=file]').setInputFiles(gguf('my-model.gguf'));
  await p.waitForSelector('llm-chat[state="ready"]');
  expect(await pickerText(p)).toBe('From disk: my-model.gguf');
});
