// The offline PWA shell: manifest and icons, a service worker that precaches the app (never the
// models), and a reload with the network off that still starts the app and its engine worker.
import { expect, test } from 'vitest';
import { useBrowserSuite } from './harness.ts';

const suite = useBrowserSuite();

function pngSize(bytes: Buffer): [number, number] {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test('manifest with real PNG icons of the declared sizes', async () => {
  const { server } = suite;
  const res = await fetch(`${server.url}/manifest.webmanifest`);
  expect(res.ok).toBe(true);
  const manifest = (await res.json()) as { name: string; short_name: string; display: string; icons: { src: string; sizes: string; purpose?: string }[] };
  expect(manifest).toMatchObject({ short_name: 'lowbit', display: 'standalone' });
  expect(manifest.icons.some((i) => i.purpose === 'maskable')).toBe(true);
  for (const icon of manifest.icons) {
    const png = Buffer.from(await (await fetch(`${server.url}/${icon.src}`)).arrayBuffer());
    const [w, h] = pngSize(png);
    expect(`${w}x${h}`).toBe(icon.sizes);
  }
  const html = await (await fetch(`${server.url}/`)).text();
  expect(html).toMatch(/<link rel="manifest" href="\/manifest\.webmanifest"/);
});

test('after one online visit the app reloads offline from the service worker, models excluded', async () => {
  const { server } = suite;
  const context = await suite.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => navigator.serviceWorker?.controller !== null, null, { timeout: 30_000 });
  // Everything precached is app shell; the bundled model is not among it.
  const cached = await page.evaluate(async () => {
    const urls: string[] = [];
    for (const name of await caches.keys()) for (const req of await (await caches.open(name)).keys()) urls.push(new URL(req.url).pathname);
    return urls;
  });
  expect(cached).toContain('/index.html');
  expect(cached).toContain('/llm-chat.js');
  expect(cached.some((u) => /\/assets\/worker-.*\.js$/.test(u))).toBe(true);
  expect(cached.some((u) => u.endsWith('.gguf') || u.includes('/models/'))).toBe(false);

  const before = server.bytesSent.get('/index.html') ?? 0;
  await context.setOffline(true);
  try {
    await page.reload();
    await page.waitForSelector('lowbit-demo select[aria-label="Model"]');
    // The page came from the service worker, not the server.
    expect(server.bytesSent.get('/index.html') ?? 0).toBe(before);
    expect(await page.evaluate(() => navigator.onLine)).toBe(false);
    // The engine worker script also comes from the precache: it answers a request.
    const probe = await page.evaluate(async () => {
      const app = document.querySelector('lowbit-demo') as unknown as { worker: { probe(): Promise<{ webgpu: boolean }> } };
      return app.worker.probe();
    });
    expect(typeof probe.webgpu).toBe('boolean');
    // The chat element is there and says something (never a blank box).
    await page.waitForSelector('llm-chat:is([state="loading"], [state="ready"], [state="error"])');
  } finally {
    await context.setOffline(false);
  }
  expect(errors).toEqual([]);
});
