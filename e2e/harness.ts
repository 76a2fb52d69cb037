/**
 * The one launch / serve / close sequence of the browser tests. Call `useBrowserSuite()` at the top
 * level of a test file: before the file's tests it serves the test build of the app (e2e/build.ts)
 * or a directory of your choice on 127.0.0.1 (e2e/server.ts) and launches Chromium with WebGPU
 * (e2e/browser.ts); it closes the contexts a test opened after that test, and the browser and the
 * server after the file.
 */
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { launchBrowser } from './browser.ts';
import { buildForTests } from './build.ts';
import { serveStatic, type StaticServer } from './server.ts';

export interface BrowserSuiteOptions {
  /** The directory served at '/' (run before the tests): default, the test build of the app. */
  root?: () => string | Promise<string>;
  /** More directories, by URL prefix (see serveStatic); run before the tests. */
  extraRoots?: () => Record<string, string> | Promise<Record<string, string>>;
}

export interface OpenPageOptions extends BrowserContextOptions {
  /** Wait for the test page's `<html data-ready="true">` (default true). */
  waitReady?: boolean;
}

export interface OpenedPage {
  page: Page;
  context: BrowserContext;
  /** The page's uncaught errors, as they happen. */
  errors: string[];
}

export interface BrowserSuite {
  readonly browser: Browser;
  readonly server: StaticServer;
  /** A new browser context, closed after the current test. */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  /** Opens `path` on the server in a page of a new context (closed after the test). */
  openPage(path: string, options?: OpenPageOptions): Promise<OpenedPage>;
}

export function useBrowserSuite(options: BrowserSuiteOptions = {}): BrowserSuite {
  let browser: Browser | undefined;
  let server: StaticServer | undefined;
  const contexts: BrowserContext[] = [];
  const started = <T>(value: T | undefined, what: string): T => {
    if (!value) throw new Error(`the browser suite's ${what} is not started: use it inside a test or hook`);
    return value;
  };

  const suite: BrowserSuite = {
    get browser() {
      return started(browser, 'browser');
    },
    get server() {
      return started(server, 'server');
    },
    async newContext(contextOptions) {
      const context = await suite.browser.newContext(contextOptions);
      contexts.push(context);
      return context;
    },
    async openPage(path, { waitReady = true, ...contextOptions } = {}) {
      const context = await suite.newContext(contextOptions);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${suite.server.url}${path}`);
      if (waitReady) await page.waitForFunction(() => document.documentElement.dataset.ready === 'true');
      return { page, context, errors };
    },
  };

  beforeAll(async () => {
    const root = options.root ? await options.root() : await buildForTests();
    server = await serveStatic(root, options.extraRoots ? await options.extraRoots() : {});
    browser = await launchBrowser();
  });
  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close().catch(() => undefined);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  return suite;
}
