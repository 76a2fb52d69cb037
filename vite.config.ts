import { defineConfig } from 'vite';

export default defineConfig({
  // The bundled default model ships in public/models; .gguf files must never be inlined.
  assetsInclude: ['**/*.wgsl', '**/*.gguf'],
  build: {
    target: 'es2022',
    sourcemap: true,
  },
  worker: { format: 'es' },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
