import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Long GPU suites that `npm test` leaves to `npm run test:slow`, which CI runs right after it: the
 * whole kernel matrices (every type × shape × variant) and the fixture parity tables against
 * llama.cpp. `npm test` must stay under 15 minutes on a 2-core machine without a GPU; these took
 * about 18 minutes of one core there between them. `npm test` still runs every model path end to
 * end (decode step, dispatch counts, batched decode, limits), the int8 mat-vec of every int8 type,
 * the other kernels, and a llama.cpp parity run (test/scale/parity.test.ts, the 135M shape). The
 * lab's browser tests, the evaluation commands' CLI tests and two browser runs of the scale and
 * limits paths went here when npm test reached 899 s of its 900 (2026-12-05).
 */
export const SLOW_SUITES = [
  'test/parity/oracle-parity.test.ts',
  'test/parity/live-parity.test.ts',
  // llama.cpp live against the ggml activations mode on four 3M fixtures (57–90 s).
  'test/parity/ggml-parity.test.ts',
  'test/kernels/matmul.test.ts',
  'test/kernels/matmul-fused.test.ts',
  'test/kernels/matmul-tiled.test.ts',
  'test/kernels/autotune-parity.test.ts',
  'test/kernels/matvec-q8-tokens.test.ts',
  'test/kernels/matmul-q8.test.ts',
  'test/runtime/prefill-int8.test.ts',
  'test/cli/run-autotune.test.ts',
  // The quantization lab and evaluation commands end to end: the lab quantizing three types in
  // Chromium against the CLI's output, its Cancel and Chat buttons, and lowbit perplexity / kl /
  // imatrix as spawned commands (their code paths stay in npm test through test/lab, test/runtime
  // evaluate and compare tests). About 4.5 minutes of test time between them.
  'e2e/lab.test.ts',
  'e2e/lab-actions.test.ts',
  'test/cli/evaluation-cli.test.ts',
  // Two browser runs of real-size and limit paths whose Node counterparts stay in npm test
  // (test/scale/parity.test.ts, test/engine/limits.test.ts): the demo pulling the 135M shape by URL
  // and chatting offline, and the worker under each limits tier. About 2.3 minutes between them.
  'e2e/demo-scale-135m.test.ts',
  'e2e/worker-limits.test.ts',
  // Batched slots bit-equal to single-slot runs, end to end over the engine (about 2.5 minutes);
  // the row kernels' own tests (test/kernels/ops-slot-rows) and the server's stay in npm test.
  'test/runtime/batch-decode.test.ts',
  // The int8 path's whole kernel matrix (87 cases, about 1 minute) like its token-batch sibling
  // above, the int8 decode step's submit/readback contract on two models (1.4 minutes; npm test
  // keeps the same contract with int8 activations in test/engine/dispatches), and `lowbit run
  // --activations` run three times end to end (1.2 minutes; its usage errors are checked by
  // test/cli/run-flags). They brought npm test to 902 of its 900 seconds on CI.
  'test/kernels/matvec-q8.test.ts',
  'test/runtime/decode-step-int8.test.ts',
  'test/cli/run-activations.test.ts',
];

// Unit, GPU-kernel and parity tests run in Node. GPU tests share one Dawn device per file and
// SwiftShader is CPU-bound, so files run one at a time per worker and timeouts are generous.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'e2e/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...SLOW_SUITES],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
  assetsInclude: ['**/*.wgsl'],
});
