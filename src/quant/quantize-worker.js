// Node worker-thread entry of the quantizer pool: this thread needs its own TypeScript loader
// before it can import the job code, then answers { id, type, values } with { id, bytes, absMax }.
import '../node/register.js';

await import('./quantize-worker-main.ts');
