// Test page script: defines <llm-chat> and exposes the fake engine, the fake-backed worker and the
// error classes to Playwright's page.evaluate().
import fakeWorkerUrl from '../../test/ui/fake-worker.ts?worker&url';
import * as errors from '../../src/errors.ts';
import { EngineWorker } from '../../src/engine/worker-client.ts';
import { openaiClient } from '../../src/engine/openai.ts';
import { RemoteEngine } from '../../src/engine/remote.ts';
import '../../src/ui/index.ts';
import { FakeEngine, fakeLoader, toTokens } from '../../test/ui/fake-engine.ts';

const lowbitTest = {
  FakeEngine,
  fakeLoader,
  toTokens,
  errors,
  openaiClient,
  RemoteEngine,
  spawnFakeWorker: () => new EngineWorker(new Worker(new URL(fakeWorkerUrl, import.meta.url), { type: 'module' })),
};

declare global {
  interface Window {
    lowbitTest: typeof lowbitTest;
    /** Set by hostile model output if it ever manages to run script. */
    pwned?: unknown;
  }
}

window.lowbitTest = lowbitTest;
document.documentElement.dataset.ready = 'true';
