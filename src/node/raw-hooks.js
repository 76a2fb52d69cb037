// Node ESM loader hooks: `import text from './x.wgsl?raw'` yields the file's text, as Vite does in
// the browser build and in Vitest. Registered by src/node/register.js for the CLI and benchmarks.
import { readFile } from 'node:fs/promises';

export async function resolve(specifier, context, nextResolve) {
  if (specifier.endsWith('?raw')) {
    const { url } = await nextResolve(specifier.slice(0, -4), context);
    return { url: `${url}?raw`, shortCircuit: true, format: 'module' };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (url.endsWith('?raw')) {
    const text = await readFile(new URL(url.slice(0, -4)), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
