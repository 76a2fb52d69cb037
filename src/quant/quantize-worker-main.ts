/** Job loop of a Node quantizer worker thread (see node-quantize-pool.ts). */
import { parentPort } from 'node:worker_threads';
import { answerQuantizeJob, type QuantizeJobMessage } from './quantize-pool.ts';

parentPort!.on('message', (msg: QuantizeJobMessage) => {
  const { reply, transfer } = answerQuantizeJob(msg);
  parentPort!.postMessage(reply, transfer);
});
