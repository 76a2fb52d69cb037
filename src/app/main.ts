// Demo page bootstrap: the app element (picker, cached models, <llm-chat>) and the offline service worker.
import './demo-app.ts';
import { registerServiceWorker } from './pwa.ts';

void registerServiceWorker();
