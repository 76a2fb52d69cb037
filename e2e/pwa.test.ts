// The offline PWA shell: manifest and icons, a service worker that precaches the app (never the
// models), and a reload with the network off that still starts the app and its engine worker.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { buildForTests } from './build.ts';
import { useBrowserSuite } from './harness.ts';
import { serveStatic } from './server.ts';

/** The served build, also read directly (source maps) and copied (a second deploy). */
let dist = '';
const suite = useBrowserSuite({ root: async () => (dist = await buildForTests()) });

function pngSize(bytes: Buffer): [number, number] {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test('manifest with real PNG icons of the declared sizes', async () => {
  const { server } = suite;
  const res = await fetch(`${server.url}/manifest.webmanifest`);
  expect(res.ok).toBe(true);
  const manifest = (await res.json()) as {
    name: string;
    short_name: string;
    display: string;
    icons: { src: string; sizes: string; purpose?: string }[];
  };
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

test('the build ships no source maps', () => {
  const files = readdirSync(dist, { recursive: true }).map(String);
  expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
  const scripts = files.filter((f) => f.endsWith('.js'));
  expect(scripts.length).toBeGreaterThan(3);
  for (const f of scripts) expect(readFileSync(join(dist, f), 'utf8'), f).not.toContain('sourceMappingURL');
});

test('the demo runs under its Content-Security-Policy, which blocks remote images and fetches', async () => {
  const { server } = suite;
  const html = await (await fetch(`${server.url}/`)).text();
  const csp = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1] ?? '';
  for (const directive of [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "img-src 'self' data: blob:",
    "object-src 'none'",
    "base-uri 'none'",
  ])
    expect(csp).toContain(directive);
  expect(csp).toMatch(/connect-src 'self' https:\/\/huggingface\.co /);

  const leaked: string[] = [];
  const leak = createServer((req, res) => {
    leaked.push(req.url ?? '');
    res.end();
  });
  await new Promise<void>((r) => leak.listen(0, '127.0.0.1', r));
  const addr = leak.address();
  const leakUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const ctx = await suite.newContext({ serviceWorkers: 'block' });
  try {
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.addInitScript(() => {
      const w = window as unknown as { violations: string[] };
      w.violations = [];
      document.addEventListener('securitypolicyviolation', (e) => w.violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
    });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('lowbit-demo select[aria-label="Model"]');
    // The app itself (its scripts, styles, worker, icons) needs nothing the policy forbids.
    await page.waitForSelector('llm-chat:is([state="loading"], [state="ready"], [state="error"])');
    expect(await page.evaluate(() => (window as unknown as { violations: string[] }).violations)).toEqual([]);
    // Markup that got past every other defence still could not reach another host.
    const blocked = await page.evaluate(async (leakUrl) => {
      const img = document.createElement('img');
      img.src = `${leakUrl}/img`;
      document.body.append(img);
      const table = document.createElement('table');
      table.setAttribute('background', `${leakUrl}/table-background`);
      table.innerHTML = '<tr><td>x</td></tr>';
      document.body.append(table);
      const fetched = await fetch(`${leakUrl}/fetch`).then(
        () => 'fetched',
        () => 'blocked',
      );
      await new Promise((r) => setTimeout(r, 500));
      return { fetched, violations: (window as unknown as { violations: string[] }).violations };
    }, leakUrl);
    expect(blocked.fetched).toBe('blocked');
    expect(blocked.violations).toEqual(expect.arrayContaining([`img-src ${leakUrl}/img`, `connect-src ${leakUrl}/fetch`]));
    expect(leaked).toEqual([]);
    expect(errors).toEqual([]);
  } finally {
    await ctx.close();
    await new Promise<void>((r) => leak.close(() => r()));
  }
});

/** Asks the service worker controlling `page` which version it is (see the deploy below). */
const controllerVersion = (page: Page) =>
  page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const sw = navigator.serviceWorker.controller;
        if (!sw) return resolve('none');
        const channel = new MessageChannel();
        channel.port1.onmessage = (e) => resolve(String(e.data));
        sw.postMessage('version?', [channel.port2]);
        setTimeout(() => resolve('v1'), 1000);
      }),
  );

test('a new deploy waits for the user: open tabs keep the old version until "Reload"', async () => {
  // A copy of the build that can be "deployed" again with a new service worker.
  const site = mkdtempSync(join(tmpdir(), 'lowbit-deploy-'));
  cpSync(dist, site, { recursive: true });
  const deployServer = await serveStatic(site);
  const ctx = await suite.newContext();
  try {
    const first = await ctx.newPage();
    await first.goto(`${deployServer.url}/`);
    await first.waitForFunction(() => navigator.serviceWorker?.controller !== null, null, { timeout: 30_000 });
    const second = await ctx.newPage();
    await second.goto(`${deployServer.url}/`);
    await second.waitForFunction(() => navigator.serviceWorker?.controller !== null, null, { timeout: 30_000 });
    expect(await controllerVersion(first)).toBe('v1');

    // Deploy v2: a changed sw.js that can say its version.
    const sw = join(site, 'sw.js');
    writeFileSync(
      sw,
      `${readFileSync(sw, 'utf8')}\nself.addEventListener('message', (e) => { if (e.data === 'version?') e.ports[0].postMessage('v2'); });\n`,
    );
    await first.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());

    // Both tabs are told, and neither is switched over behind its back.
    await first.waitForSelector('lowbit-update-prompt', { timeout: 30_000 });
    await second.waitForSelector('lowbit-update-prompt', { timeout: 30_000 });
    expect(await first.locator('lowbit-update-prompt [role="status"]').innerText()).toContain('A new version of lowbit is available');
    await first.waitForTimeout(1000);
    expect(await controllerVersion(first)).toBe('v1');
    expect(await first.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.waiting !== null)).toBe(true);

    // "Reload" in one tab switches to v2 and reloads that tab; the other tab keeps its prompt.
    await Promise.all([
      first.waitForEvent('load', { timeout: 30_000 }),
      first.locator('lowbit-update-prompt button', { hasText: 'Reload' }).click(),
    ]);
    await first.waitForSelector('lowbit-demo select[aria-label="Model"]');
    expect(await controllerVersion(first)).toBe('v2');
    expect(await first.locator('lowbit-update-prompt').count()).toBe(0);
    expect(await second.locator('lowbit-update-prompt').count()).toBe(1);
  } finally {
    await ctx.close();
    await deployServer.close();
    rmSync(site, { recursive: true, force: true });
  }
});
