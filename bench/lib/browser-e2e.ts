/**
 * Runs the end-to-end benchmark inside headless Chromium: builds bench/browser.html with Vite,
 * serves it next to the model files, and drives `window.lowbitBench` (bench/browser-page.ts)
 * with Playwright, one model after another on one page (one WebGPU device, as in Node).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../../e2e/browser.ts';
import { serveStatic } from '../../e2e/server.ts';
import type { BrowserDevice, BrowserE2eRow, LowbitBench } from '../browser-page.ts';

export type { BrowserDevice, BrowserE2eRow };

const benchDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A production build of the benchmark page alone (not the app) into a fresh temp directory. */
async function buildPage(): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), 'lowbit-bench-browser-'));
  const { build } = await import('vite');
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      // Not the app's vite.config.ts: its inputs and PWA plugin have nothing to do with this page.
      configFile: false,
      root: benchDir,
      base: './',
      // Warnings (chunk size, web-tokenizers' externalized `module`) are the app build's too.
      logLevel: 'error',
      assetsInclude: ['**/*.wgsl'],
      // Error classes are told apart by name (src/errors.ts): minification must not rename them.
      esbuild: { keepNames: true },
      worker: { format: 'es' },
      build: { outDir, emptyOutDir: true, target: 'es2022', rollupOptions: { input: { browser: join(benchDir, 'browser.html') } } },
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return outDir;
}

export interface BrowserBenchResult {
  device: BrowserDevice;
  e2e: BrowserE2eRow[];
}

/** Benchmarks each model file (absolute paths) in Chromium; a model that fails is logged and skipped. */
export async function benchBrowser(
  models: string[],
  opts: { promptTokens: number; decodeTokens: number },
  log: (s: string) => void,
): Promise<BrowserBenchResult> {
  log('browser: building the page …');
  const outDir = await buildPage();
  // Each model directory under its own URL prefix.
  const dirs = [...new Set(models.map((m) => dirname(m)))];
  const roots = Object.fromEntries(dirs.map((d, i) => [`/m${i}/`, d]));
  const server = await serveStatic(outDir, roots);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') log(`  [page ${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (e) => log(`  [page error] ${e.message}`));
    await page.goto(`${server.url}/browser.html`);
    await page.waitForFunction(() => 'lowbitBench' in window);
    const device = await page.evaluate(() => (window as unknown as { lowbitBench: LowbitBench }).lowbitBench.device());
    const e2e: BrowserE2eRow[] = [];
    for (const path of models) {
      log(`browser e2e ${basename(path)} …`);
      const url = `/m${dirs.indexOf(dirname(path))}/${encodeURIComponent(basename(path))}`;
      try {
        e2e.push(
          await page.evaluate(([u, o]) => (window as unknown as { lowbitBench: LowbitBench }).lowbitBench.run(u, o), [url, opts] as const),
        );
      } catch (e) {
        log(`  skipped: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    return { device, e2e };
  } finally {
    await browser.close();
    await server.close();
    rmSync(outDir, { recursive: true, force: true });
  }
}
