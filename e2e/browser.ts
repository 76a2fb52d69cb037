/**
 * Launches a Chromium with WebGPU for the browser tests and the browser benchmark.
 *
 * Which binary: LOWBIT_CHROMIUM (a path) when set; else `chromium` from the system (Debian's
 * package ships SwiftShader's Vulkan driver, so WebGPU works without a GPU); else Playwright's own
 * downloaded browser, for users who ran `npx playwright install` elsewhere.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const SYSTEM_CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(): string | undefined {
  const fromEnv = process.env.LOWBIT_CHROMIUM;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`LOWBIT_CHROMIUM=${fromEnv} does not exist`);
    return fromEnv;
  }
  return SYSTEM_CHROMIUM.find((p) => existsSync(p));
}

/** Flags that give headless Chromium a WebGPU adapter on SwiftShader and keep it off the network. */
export const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-vulkan-surface',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface LaunchOptions {
  /** false: a Chromium without the WebGPU flags, which has no navigator.gpu (default true). */
  webgpu?: boolean;
}

export async function launchBrowser({ webgpu = true }: LaunchOptions = {}): Promise<Browser> {
  // With a real GPU (LOWBIT_BROWSER_GPU=hardware) keep Chromium's default adapter choice.
  const hardware = process.env.LOWBIT_BROWSER_GPU === 'hardware';
  const args = !webgpu ? ['--no-sandbox'] : hardware ? ['--enable-unsafe-webgpu', '--no-sandbox', '--no-first-run'] : WEBGPU_FLAGS;
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args });
}
