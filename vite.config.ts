import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Browser-test pages (e2e/pages/*.html), built only in `--mode e2e` (see e2e/build.ts). */
function e2ePages(): Record<string, string> {
  const dir = `${root}e2e/pages/`;
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.html'))
      .map((f) => [`e2e-${f.slice(0, -5)}`, dir + f]),
  );
}

export default defineConfig(({ mode }) => ({
  // The bundled default model ships in public/models; .gguf files must never be inlined.
  assetsInclude: ['**/*.wgsl', '**/*.gguf'],
  build: {
    target: 'es2022',
    // Source maps would publish the sources with every deploy; build them locally when debugging
    // (vite build --sourcemap).
    sourcemap: false,
    rollupOptions: {
      input: {
        index: `${root}index.html`,
        // The quantization lab (src/lab/), linked from the demo's header.
        lab: `${root}lab.html`,
        // The embeddable element at a stable URL: <script type="module" src="/llm-chat.js">.
        'llm-chat': `${root}src/ui/index.ts`,
        ...(mode === 'e2e' ? e2ePages() : {}),
      },
      preserveEntrySignatures: 'exports-only',
      output: {
        entryFileNames: (chunk) => (chunk.name === 'llm-chat' ? 'llm-chat.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  // Error classes are told apart by name across the worker boundary (src/engine/protocol.ts) and
  // LowbitError takes its name from the class: minification must not rename classes.
  esbuild: { keepNames: true },
  worker: { format: 'es' },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
  plugins: [
    VitePWA({
      // A new version waits until the user reloads (src/app/pwa.ts shows the prompt): taking over
      // open tabs at once would drop the old precache under them, and a tab that has not yet
      // loaded a lazy chunk (the engine worker) would then fail to load it.
      registerType: 'prompt',
      // src/app/pwa.ts registers it (only the demo page, not pages embedding <llm-chat>).
      injectRegister: false,
      includeAssets: ['icons/favicon-32.png', 'icons/apple-touch-icon-180.png'],
      manifest: {
        name: 'lowbit — LLMs on WebGPU',
        short_name: 'lowbit',
        description: 'Chat with quantized LLMs running on WebGPU in the browser, offline after the first visit.',
        theme_color: '#2f6fed',
        background_color: '#ffffff',
        display: 'standalone',
        start_url: '.',
        scope: '.',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        // The app shell only. Models are never precached: they are downloaded into the model
        // store (IndexedDB), the bundled one included, and read from there offline.
        globPatterns: ['**/*.{html,js,css,png,svg,webmanifest,wasm}'],
        globIgnores: ['**/models/**', '**/*.gguf', '**/*.map'],
        // The engine bundle (tokenizer wasm included) is larger than workbox's 2 MiB default.
        maximumFileSizeToCacheInBytes: 16 * 1024 * 1024,
        navigateFallback: 'index.html',
        navigateFallbackDenylist: [/\/models\//, /\.gguf$/, /\/e2e\//],
        // The first install controls the page at once (offline after one visit); updates wait.
        clientsClaim: true,
        skipWaiting: false,
        cleanupOutdatedCaches: true,
        sourcemap: false,
      },
    }),
  ],
}));
