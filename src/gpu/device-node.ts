/**
 * Node device creation through Dawn (the `webgpu` package). Kept apart from device.ts so browser
 * bundles never import the native module.
 *
 * Order: the system's Vulkan drivers first; when they give no adapter (no GPU, or a Mesa too old
 * for Dawn) and the user has not chosen drivers with VK_ICD_FILENAMES, fall back to SwiftShader's
 * Vulkan driver, which Debian's chromium package ships, with a one-line warning. Dawn re-reads
 * VK_ICD_FILENAMES on each instance, so setting it between attempts works.
 * LOWBIT_ADAPTER=hardware|swiftshader forces one.
 */
import { existsSync } from 'node:fs';
import { WebGPUUnavailableError } from '../errors.ts';
import { createGpuContext, type DeviceOptions, type GpuContext } from './device.ts';

export const SWIFTSHADER_ICD_PATHS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib64/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];

export type AdapterChoice = 'auto' | 'hardware' | 'swiftshader';

export interface NodeDeviceOptions extends DeviceOptions {
  adapter?: AdapterChoice;
  /** Where the fallback warning goes (default: console.warn). Pass null for silence. */
  warn?: ((msg: string) => void) | null;
}

type WebGpuModule = { create(flags: string[]): GPU; globals: Record<string, unknown> };
let webgpuModule: Promise<WebGpuModule> | undefined;

async function loadDawn(): Promise<WebGpuModule> {
  webgpuModule ??= import('webgpu').then((m) => {
    const mod = m as unknown as WebGpuModule;
    // GPUBufferUsage, GPUShaderStage, GPUMapMode … as in a browser.
    for (const [k, v] of Object.entries(mod.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    return mod;
  });
  return webgpuModule;
}

function swiftshaderIcd(): string | undefined {
  const fromEnv = process.env.LOWBIT_SWIFTSHADER_ICD;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  return SWIFTSHADER_ICD_PATHS.find((p) => existsSync(p));
}

/**
 * Dawn instances stay referenced for the life of the process: when the `GPU` object from
 * `create()` is garbage-collected, its instance goes away under the devices made from it, and the
 * next wait on the device (onSubmittedWorkDone, mapAsync) aborts the process
 * ("std::system_error: Invalid argument").
 */
const liveInstances: GPU[] = [];

async function tryAdapter(dawn: WebGpuModule, power: GPUPowerPreference | undefined): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  const gpu = dawn.create([]);
  liveInstances.push(gpu);
  return { gpu, adapter: await gpu.requestAdapter({ powerPreference: power ?? 'high-performance' }) };
}

export async function requestNodeGpu(options: NodeDeviceOptions = {}): Promise<GpuContext> {
  const choice = (options.adapter ?? (process.env.LOWBIT_ADAPTER as AdapterChoice | undefined) ?? 'auto') as AdapterChoice;
  if (!['auto', 'hardware', 'swiftshader'].includes(choice)) {
    throw new WebGPUUnavailableError(`Unknown adapter choice '${choice}': use auto, hardware or swiftshader.`);
  }
  const warn = options.warn === undefined ? (m: string) => console.warn(m) : options.warn;
  const dawn = await loadDawn();
  const userIcd = process.env.VK_ICD_FILENAMES;
  let found: { gpu: GPU; adapter: GPUAdapter | null } | undefined;
  if (choice !== 'swiftshader') found = await tryAdapter(dawn, options.powerPreference);
  if (!found?.adapter && choice !== 'hardware') {
    const icd = swiftshaderIcd();
    if (icd && (choice === 'swiftshader' || !userIcd)) {
      process.env.VK_ICD_FILENAMES = icd;
      found = await tryAdapter(dawn, options.powerPreference);
      if (found.adapter && choice === 'auto') warn?.(`lowbit: no hardware GPU adapter; using SwiftShader (software, slow) from ${icd}`);
    }
  }
  const adapter = found?.adapter;
  if (!found || !adapter) {
    throw new WebGPUUnavailableError(
      choice === 'hardware'
        ? "No hardware WebGPU adapter found through Dawn/Vulkan. Install your GPU's Vulkan driver, or use LOWBIT_ADAPTER=swiftshader."
        : "No WebGPU adapter found. Install a Vulkan driver for your GPU, or install Debian/Ubuntu's chromium package " +
            '(it ships SwiftShader, a software Vulkan driver lowbit can use), or point LOWBIT_SWIFTSHADER_ICD at vk_swiftshader_icd.json.',
    );
  }
  return createGpuContext(adapter, options, found.gpu.wgslLanguageFeatures);
}
