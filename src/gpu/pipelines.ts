/**
 * Compute-pipeline cache and WGSL composition.
 *
 * Pipelines are built once per (device, key, entry point, constants) and reused: kernels call
 * `getPipeline` from their factory, never per step. Shader sources are composed from a kernel
 * file plus snippets from shaders/common by string operations only:
 *
 *   #include "f16"          → the snippet of that name, passed in `snippets` (the quant table's
 *                           decoders give theirs, src/quant/gpu-decoders.ts) or built in (f16);
 *                           each snippet is included once per shader
 *   #if NAME / #if !NAME / #else / #endif   → kept or dropped by `defines[NAME]` truthiness
 *   {{NAME}}                → replaced by String(defines[NAME]) (also inside #include "…");
 *   {{A op B}}              → integer arithmetic (+ - * / %) on defines and literals
 *   #for I in 0..{{N}} / #endfor → the body repeated N times with {{I}} = 0, 1, … (nestable):
 *                           straight-line code without arrays, which SwiftShader runs several
 *                           times faster than loops over function-scope arrays
 *
 * and, by variant, `enable f16;`, `enable subgroups;` and
 * `diagnostic(off, subgroup_uniformity);` are prepended (WGSL needs them before any declaration).
 */
import f16Snippet from '../../shaders/common/f16.wgsl?raw';
import type { GpuContext } from './device.ts';

/** Shader features a composed source may use; false ones are not enabled. */
export interface WgslFeatures {
  f16?: boolean;
  subgroups?: boolean;
}

export interface ComposeOptions extends WgslFeatures {
  /** Values for `#if NAME` and `{{NAME}}`. SUBGROUPS and F16 are set from the features. */
  defines?: Record<string, string | number | boolean>;
  /** Snippets for `#include`, looked up before the built-in ones. */
  snippets?: Record<string, string>;
}

/** Snippets every shader may include without passing them. */
const builtinSnippets: ReadonlyMap<string, string> = new Map([['f16', f16Snippet]]);

const INCLUDE_RE = /^\s*#include\s+"([^"]+)"\s*$/;
const IF_RE = /^\s*#if\s+(!?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*$/;
const ELSE_RE = /^\s*#else\s*$/;
const ENDIF_RE = /^\s*#endif\s*$/;
const FOR_RE = /^\s*#for\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\s+(.+?)\.\.(.+?)\s*$/;
const ENDFOR_RE = /^\s*#endfor\s*$/;
const SUBST_RE = /\{\{([^{}]+)\}\}/g;

/**
 * Composed sources by kernel source, then by options. Kernels compose their variant each time one
 * is created (once per layer and per graph), and a load lists its pipelines before building them:
 * the unrolled mat-mul sources make composing most of that time, so each variant is composed once.
 */
const composed = new Map<string, Map<string, string>>();

/** Builds the final WGSL text for a variant. Throws on unknown snippets/defines or unbalanced #if. */
export function composeWgsl(source: string, options: ComposeOptions = {}): string {
  let bySource = composed.get(source);
  if (!bySource) composed.set(source, (bySource = new Map()));
  const key = JSON.stringify([options.f16 ?? false, options.subgroups ?? false, options.defines ?? {}, options.snippets ?? {}]);
  let code = bySource.get(key);
  if (code === undefined) bySource.set(key, (code = composeUncached(source, options)));
  return code;
}

function composeUncached(source: string, options: ComposeOptions): string {
  const defines: Record<string, string | number | boolean> = {
    SUBGROUPS: Boolean(options.subgroups),
    F16: Boolean(options.f16),
    ...options.defines,
  };
  const included = new Set<string>();
  const substitute = (line: string, where: string, scope: Record<string, string | number | boolean>) =>
    line.replace(SUBST_RE, (_, expr: string) => {
      const operand = (t: string): string | number | boolean => {
        if (/^\d+$/.test(t)) return Number(t);
        if (!(t in scope)) throw new Error(`WGSL ${where}: {{${expr}}}: ${t} has no define`);
        return scope[t]!;
      };
      // Integer arithmetic: + - * / % with the usual precedence, left to right.
      const tokens = expr.match(/\w+|[-+*/%]|\S/g) ?? [];
      let pos = 0;
      const bad = () => new Error(`WGSL ${where}: cannot read {{${expr}}}`);
      const value = (): number => {
        const t = tokens[pos++];
        if (t === undefined || !/^\w+$/.test(t)) throw bad();
        const v = operand(t);
        if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`WGSL ${where}: {{${expr}}} needs integer operands`);
        return v;
      };
      const term = (): number => {
        let v = value();
        while (pos < tokens.length && '*/%'.includes(tokens[pos]!)) {
          const op = tokens[pos++]!;
          const b = value();
          if (op !== '*' && b === 0) throw new Error(`WGSL ${where}: {{${expr}}} divides by zero`);
          v = op === '*' ? v * b : op === '/' ? Math.floor(v / b) : v % b;
        }
        return v;
      };
      if (tokens.length === 1 && /^\w+$/.test(tokens[0]!)) return String(operand(tokens[0]!));
      let v = term();
      while (pos < tokens.length && (tokens[pos] === '+' || tokens[pos] === '-')) {
        const op = tokens[pos++]!;
        const b = term();
        v = op === '+' ? v + b : v - b;
      }
      if (pos !== tokens.length) throw bad();
      return String(v);
    });
  const expand = (text: string, where: string, scope: Record<string, string | number | boolean>): string[] => {
    const out: string[] = [];
    // Stack of "is this branch kept" flags; a line is kept when every enclosing branch is.
    const stack: { keep: boolean; parentKeep: boolean }[] = [];
    const keeping = () => stack.length === 0 || stack[stack.length - 1]!.keep;
    const lines = text.split('\n');
    for (let li = 0; li < lines.length; li++) {
      const raw = lines[li]!;
      const line = raw.includes('{{') && keeping() && !FOR_RE.test(raw) ? substitute(raw, where, scope) : raw;
      let m: RegExpExecArray | null;
      if ((m = FOR_RE.exec(line))) {
        // Collect the body up to the matching #endfor (nested loops included), then expand it
        // once per index with the loop name defined.
        let depth = 1;
        const body: string[] = [];
        for (li++; li < lines.length; li++) {
          if (FOR_RE.test(lines[li]!)) depth++;
          else if (ENDFOR_RE.test(lines[li]!) && --depth === 0) break;
          body.push(lines[li]!);
        }
        if (depth !== 0) throw new Error(`WGSL ${where}: #for ${m[1]} without #endfor`);
        if (!keeping()) continue;
        const bound = (v: string) => {
          const n = Number(v.includes('{{') ? substitute(v, where, scope) : v);
          if (!Number.isInteger(n)) throw new Error(`WGSL ${where}: #for ${m![1]} bound ${v} is not an integer`);
          return n;
        };
        const from = bound(m[2]!);
        const to = bound(m[3]!);
        for (let i = from; i < to; i++) out.push(...expand(body.join('\n'), where, { ...scope, [m[1]!]: i }));
      } else if (ENDFOR_RE.test(line)) {
        throw new Error(`WGSL ${where}: #endfor without #for`);
      } else if ((m = IF_RE.exec(line))) {
        const name = m[2]!;
        if (!(name in scope)) throw new Error(`WGSL ${where}: #if ${name} has no define`);
        const value = Boolean(scope[name]) !== (m[1] === '!');
        const parentKeep = keeping();
        stack.push({ keep: parentKeep && value, parentKeep });
      } else if (ELSE_RE.test(line)) {
        const top = stack[stack.length - 1];
        if (!top) throw new Error(`WGSL ${where}: #else without #if`);
        top.keep = top.parentKeep && !top.keep;
      } else if (ENDIF_RE.test(line)) {
        if (!stack.pop()) throw new Error(`WGSL ${where}: #endif without #if`);
      } else if (!keeping()) {
        continue;
      } else if ((m = INCLUDE_RE.exec(line))) {
        const name = m[1]!;
        if (included.has(name)) continue;
        const snippet =
          (options.snippets && Object.hasOwn(options.snippets, name) ? options.snippets[name] : undefined) ?? builtinSnippets.get(name);
        if (snippet === undefined) throw new Error(`WGSL ${where}: unknown snippet "${name}"`);
        included.add(name);
        out.push(`// ---- ${name} ----`, ...expand(snippet, `snippet "${name}"`, defines), `// ---- end ${name} ----`);
      } else {
        out.push(line);
      }
    }
    if (stack.length) throw new Error(`WGSL ${where}: unterminated #if`);
    return out;
  };
  const header: string[] = [];
  if (options.f16) header.push('enable f16;');
  if (options.subgroups) header.push('enable subgroups;', 'diagnostic(off, subgroup_uniformity);');
  return [...header, ...expand(source, 'source', defines)].join('\n');
}

/**
 * The pipeline-cache key of a kernel family's variant: the family and every define that shaped its
 * source, so two variants share a key exactly when they compose the same WGSL.
 */
export function definesKey(family: string, defines: Record<string, string | number | boolean>, subgroups: boolean): string {
  return `${family}:${Object.keys(defines)
    .sort()
    .map((k) => `${k}=${defines[k]}`)
    .join(',')}:${subgroups ? 'sg' : 'wg'}`;
}

/** Features a kernel may use on this device (the variant picked when the caller does not force one). */
export function deviceFeatures(ctx: GpuContext): Required<WgslFeatures> {
  return { f16: ctx.hasF16, subgroups: ctx.hasSubgroups };
}

interface DeviceCache {
  modules: Map<string, GPUShaderModule>;
  pipelines: Map<string, { source: string; pipeline: GPUComputePipeline }>;
}
const caches = new WeakMap<GPUDevice, DeviceCache>();

function cacheOf(device: GPUDevice): DeviceCache {
  let c = caches.get(device);
  if (!c) {
    c = { modules: new Map(), pipelines: new Map() };
    caches.set(device, c);
  }
  return c;
}

function shaderModule(device: GPUDevice, label: string, code: string): GPUShaderModule {
  const c = cacheOf(device);
  let m = c.modules.get(code);
  if (!m) {
    m = device.createShaderModule({ label, code });
    c.modules.set(code, m);
  }
  return m;
}

function pipelineKey(key: string, entryPoint: string, constants?: Record<string, number>): string {
  const cs = constants
    ? Object.keys(constants)
        .sort()
        .map((k) => `${k}=${constants[k]}`)
        .join(',')
    : '';
  return `${key}|${entryPoint}|${cs}`;
}

export interface PipelineOptions {
  /** Explicit layout; default 'auto' (bind with pipeline.getBindGroupLayout(i)). */
  layout?: GPUPipelineLayout | 'auto';
}

/**
 * The cached compute pipeline for `key` (a name that identifies the composed source, e.g.
 * `matvec:Q4_K:sg`). Throws if the same key was used with different source text, which would
 * otherwise silently hand back the wrong kernel. Compilation errors surface as device
 * validation errors; use {@link getPipelineAsync} where a rejected promise is wanted.
 */
export function getPipeline(
  ctx: GpuContext,
  key: string,
  wgslSource: string,
  entryPoint: string,
  constants?: Record<string, number>,
  options: PipelineOptions = {},
): GPUComputePipeline {
  const c = cacheOf(ctx.device);
  const k = pipelineKey(key, entryPoint, constants);
  const hit = c.pipelines.get(k);
  if (hit) {
    if (hit.source !== wgslSource) throw new Error(`pipeline key '${key}' reused with different WGSL source`);
    return hit.pipeline;
  }
  const pipeline = ctx.device.createComputePipeline({
    label: key,
    layout: options.layout ?? 'auto',
    compute: { module: shaderModule(ctx.device, key, wgslSource), entryPoint, constants },
  });
  c.pipelines.set(k, { source: wgslSource, pipeline });
  return pipeline;
}

/**
 * As getPipeline, but a shader or pipeline error rejects (naming the key and the compiler
 * messages) instead of only reaching the device's uncaptured-error handler.
 *
 * Deliberately NOT createComputePipelineAsync: in Node's Dawn (`webgpu` 0.6.x on SwiftShader) it
 * hangs or crashes the process in most runs (measured: 7 of 8 runs), while the synchronous
 * call inside a validation error scope is reliable.
 */
export async function getPipelineAsync(
  ctx: GpuContext,
  key: string,
  wgslSource: string,
  entryPoint: string,
  constants?: Record<string, number>,
  options: PipelineOptions = {},
): Promise<GPUComputePipeline> {
  const c = cacheOf(ctx.device);
  const k = pipelineKey(key, entryPoint, constants);
  const hit = c.pipelines.get(k);
  if (hit) {
    if (hit.source !== wgslSource) throw new Error(`pipeline key '${key}' reused with different WGSL source`);
    return hit.pipeline;
  }
  const device = ctx.device;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: key, code: wgslSource });
  const pipeline = device.createComputePipeline({
    label: key,
    layout: options.layout ?? 'auto',
    compute: { module, entryPoint, constants },
  });
  const error = await device.popErrorScope();
  if (error) {
    const info = await module.getCompilationInfo();
    const msgs = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
    throw new Error(`pipeline '${key}' failed: ${error.message}${msgs ? `\n${msgs}` : ''}`);
  }
  c.modules.set(wgslSource, module);
  c.pipelines.set(k, { source: wgslSource, pipeline });
  return pipeline;
}

/**
 * A compute pipeline as a kernel asks for it, without the device: the cache key, the composed WGSL,
 * the entry point and constants, and the bind-group layouts when not 'auto'.
 */
export interface PipelineSpec {
  key: string;
  code: string;
  entryPoint: string;
  constants?: Record<string, number>;
  /** Descriptors of the pipeline layout's bind-group layouts; undefined for 'auto'. */
  bindGroupLayouts?: GPUBindGroupLayoutDescriptor[];
}

const SPEC_OF = Symbol('pipeline spec');
type Described<T, D> = T & { [SPEC_OF]: D };

/** Where each inert plan device records the pipelines asked of it while a build runs. */
const planRecorders = new WeakMap<GPUDevice, PipelineSpec[]>();

/** A device that creates nothing: buffers, bind groups and layouts remember their descriptors, pipelines are recorded. */
function planDevice(real: GPUDevice): GPUDevice {
  const described = <T, D>(spec: D, extra: object = {}) => ({ [SPEC_OF]: spec, ...extra }) as unknown as Described<T, D>;
  const device = {
    label: 'pipeline plan',
    features: real.features,
    limits: real.limits,
    queue: { writeBuffer() {}, submit() {}, onSubmittedWorkDone: async () => undefined },
    createBuffer: (d: GPUBufferDescriptor) =>
      // mapAsync marks it as a buffer (not a binding range) for the kernels' isGpuBuffer.
      described<GPUBuffer, GPUBufferDescriptor>(d, {
        size: d.size,
        usage: d.usage,
        label: d.label ?? '',
        destroy() {},
        mapAsync: async () => undefined,
        unmap() {},
        getMappedRange: () => new ArrayBuffer(d.size),
      }),
    createShaderModule: (d: GPUShaderModuleDescriptor) => described<GPUShaderModule, GPUShaderModuleDescriptor>(d),
    createBindGroupLayout: (d: GPUBindGroupLayoutDescriptor) => described<GPUBindGroupLayout, GPUBindGroupLayoutDescriptor>(d),
    createPipelineLayout: (d: GPUPipelineLayoutDescriptor) => described<GPUPipelineLayout, GPUPipelineLayoutDescriptor>(d),
    createBindGroup: (d: GPUBindGroupDescriptor) => described<GPUBindGroup, GPUBindGroupDescriptor>(d),
    createComputePipeline: (d: GPUComputePipelineDescriptor) => {
      const module = (d.compute.module as Described<GPUShaderModule, GPUShaderModuleDescriptor>)[SPEC_OF];
      const layout = d.layout === 'auto' ? undefined : (d.layout as Described<GPUPipelineLayout, GPUPipelineLayoutDescriptor>)[SPEC_OF];
      const constants = d.compute.constants as Record<string, number> | undefined;
      planRecorders.get(device)?.push({
        key: d.label ?? '',
        code: module.code,
        entryPoint: d.compute.entryPoint ?? 'main',
        ...(constants ? { constants } : {}),
        ...(layout
          ? {
              bindGroupLayouts: [...layout.bindGroupLayouts].map(
                (g) => (g as Described<GPUBindGroupLayout, GPUBindGroupLayoutDescriptor>)[SPEC_OF],
              ),
            }
          : {}),
      });
      return described<GPUComputePipeline, GPUComputePipelineDescriptor>(d, {
        getBindGroupLayout: () => described<GPUBindGroupLayout, null>(null),
      });
    },
  } as unknown as GPUDevice;
  return device;
}

/**
 * The pipelines `build` asks for, found by running it against a device that creates nothing
 * (see planDevice), so the list comes from the very code that later builds the real kernels:
 * nothing to keep in step by hand, and no GPU work. `build` gets a context equal to `ctx` but for
 * that device, and must only create and bind kernels. Pass the `planCtx` of an earlier call to
 * continue on the same plan device: pipelines it already listed are cached there and not listed
 * again.
 */
export function describePipelines(
  ctx: GpuContext,
  build: (planCtx: GpuContext) => void,
  planCtx: GpuContext = { ...ctx, device: planDevice(ctx.device) },
): PipelineSpec[] {
  const specs: PipelineSpec[] = [];
  planRecorders.set(planCtx.device, specs);
  try {
    build(planCtx);
  } finally {
    planRecorders.delete(planCtx.device);
  }
  return specs;
}

/**
 * Creates the pipelines of `specs` with createComputePipelineAsync, all at once, into the cache
 * that getPipeline reads, so the kernels built afterwards find them there. An implementation may
 * compile them in parallel and off the calling thread, while the caller goes on (uploading
 * weights). A pipeline that fails is left out: the kernel that needs it builds it synchronously
 * and reports the error as before. `onCreated` is called after each one; resolves with the number
 * created.
 */
export async function warmPipelines(ctx: GpuContext, specs: readonly PipelineSpec[], onCreated?: (done: number) => void): Promise<number> {
  const device = ctx.device;
  const c = cacheOf(device);
  const layouts = new Map<string, GPUPipelineLayout>();
  const layoutOf = (groups: GPUBindGroupLayoutDescriptor[]) => {
    // Layouts with the same entries are interchangeable for bind groups, so one per descriptor.
    const id = JSON.stringify(groups);
    let l = layouts.get(id);
    if (!l) layouts.set(id, (l = device.createPipelineLayout({ bindGroupLayouts: groups.map((g) => device.createBindGroupLayout(g)) })));
    return l;
  };
  let done = 0;
  const created = await Promise.all(
    specs.map(async (spec) => {
      const k = pipelineKey(spec.key, spec.entryPoint, spec.constants);
      if (c.pipelines.has(k)) return false;
      try {
        const pipeline = await device.createComputePipelineAsync({
          label: spec.key,
          layout: spec.bindGroupLayouts ? layoutOf(spec.bindGroupLayouts) : 'auto',
          compute: { module: shaderModule(device, spec.key, spec.code), entryPoint: spec.entryPoint, constants: spec.constants },
        });
        if (!c.pipelines.has(k)) c.pipelines.set(k, { source: spec.code, pipeline });
        return true;
      } catch {
        return false;
      } finally {
        onCreated?.(++done);
      }
    }),
  );
  return created.filter(Boolean).length;
}

/** Number of distinct pipelines cached for a device (tests check nothing is built per step). */
export function cachedPipelineCount(device: GPUDevice): number {
  return caches.get(device)?.pipelines.size ?? 0;
}
