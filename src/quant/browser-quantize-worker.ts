/** Web Worker entry of the browser quantizer pool (browser-quantize-pool.ts). */
import { answerQuantizeJob, type QuantizeJobMessage } from './quantize-pool.ts';

const scope = self as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown, t: Transferable[]): void };
scope.onmessage = (e: MessageEvent) => {
  const { reply, transfer } = answerQuantizeJob(e.data as QuantizeJobMessage);
  scope.postMessage(reply, transfer);
};
