import { defineConfig } from 'vitest/config';

// Unit, GPU-kernel and parity tests run in Node. GPU tests share one Dawn device per file and
// SwiftShader is CPU-bound, so files run one at a time per worker and timeouts are generous.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'e2e/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
  assetsInclude: ['**/*.wgsl'],
});
