// The demo's "Model from a URL…" form against the fake engine worker: refused URLs stay in the
// form with the reason and start nothing; Escape and Cancel put the picker back on the model that runs.
import { expect, test } from 'vitest';
import { useBrowserSuite } from './harness.ts';

const suite = useBrowserSuite();

test('a refused model URL is explained in the form and loads nothing; Escape closes the form', async () => {
  const { page } = await suite.openPage('/e2e/pages/demo.html');
  await page.waitForSelector('llm-chat[state="ready"]', { timeout: 20_000 });
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  const picker = page.locator('select[aria-label="Model"]');
  const loaded = await picker.inputValue();

  await picker.selectOption('url');
  const form = page.locator('form[aria-label="Model from a URL"]');
  // The field has the focus: the user types at once.
  expect(await form.locator('input').evaluate((el) => el === (el.getRootNode() as ShadowRoot).activeElement)).toBe(true);
  for (const [url, why] of [
    ['file:///etc/passwd.gguf', 'file: URL'],
    ['data:application/octet-stream;base64,R0dVRg==', 'data: URL'],
    ['http://192.168.1.20/model.gguf', 'plain http'],
    ['https://host.example/model.bin', 'does not name a .gguf file'],
  ]) {
    await form.locator('input').fill(url);
    await form.locator('input').press('Enter');
    expect(await form.locator('[role="alert"]').innerText()).toContain(why);
    expect(await page.locator('llm-chat').getAttribute('state')).toBe('ready');
  }
  expect(requests).toEqual([]);

  await page.keyboard.press('Escape');
  expect(await form.count()).toBe(0);
  expect(await picker.inputValue()).toBe(loaded);

  await picker.selectOption('url');
  expect(await form.locator('[role="alert"]').innerText()).toBe('');
  await form.getByRole('button', { name: 'Cancel' }).click();
  expect(await form.count()).toBe(0);
  expect(await picker.inputValue()).toBe(loaded);
});
