/** Job loop of a Node quantizer worker thread (see node-quantize-pool.ts). */
import { parentPort } from 'node:worker_threads';
import { runQuantizeJob, type JobImportance } from './quantize-job.ts';

interface JobMessage {
  id: number;
  type: number;
  values: Float32Array;
  importance?: JobImportance;
}

parentPort!.on('message', (msg: JobMessage) => {
  try {
    const { bytes, absMax } = runQuantizeJob({ type: msg.type, values: msg.values, importance: msg.importance });
    parentPort!.postMessage({ id: msg.id, bytes, absMax }, [bytes.buffer as ArrayBuffer]);
  } catch (e) {
    const error = e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
    parentPort!.postMessage({ id: msg.id, error });
  }
});
