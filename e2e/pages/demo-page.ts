// Test page script: the demo app wired to the fake-engine worker (test/ui/fake-worker.ts).
import fakeWorkerUrl from '../../test/ui/fake-worker.ts?worker&url';
import '../../src/app/demo-app.ts';
import type { DemoApp } from '../../src/app/demo-app.ts';
import { EngineWorker } from '../../src/engine/worker-client.ts';

const app = document.createElement('lowbit-demo') as DemoApp;
app.worker = new EngineWorker(new Worker(new URL(fakeWorkerUrl, import.meta.url), { type: 'module' }));
document.body.append(app);
document.documentElement.dataset.ready = 'true';
