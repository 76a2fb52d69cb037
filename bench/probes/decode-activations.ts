/**
 * Decode tokens/s of fixture models under one `--activations` choice, for comparing the decode
 * graphs of two checkouts (e.g. int8 activations before and after the fused int8 mat-vec) in
 * interleaved processes: run this file from each checkout in turn, A B A B …, and take ratios
 * per round. Prints one JSON line per model: { model, activations, decodeTokensPerSec,
 * dispatchesPerStep }.
 *
 *   node --import ./src/node/register.js bench/probes/decode-activations.ts \
 *     --activations int8 --models tinystories-llama-3M-Q4_K_M.gguf,tinystories-bitnet-3M-I2_S.gguf
 */
import { parseArgs } from 'node:util';
import { loadEngine } from '../../src/engine/engine.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { isActivationsOption } from '../../src/kernels/matvec-q8.ts';
import { localModel } from '../../test/helpers/fixtures.ts';
import { measureRun } from '../lib/e2e-measure.ts';

const { values: args } = parseArgs({
  options: {
    activations: { type: 'string', default: 'auto' },
    models: { type: 'string', default: 'tinystories-llama-3M-Q4_K_M.gguf' },
    decode: { type: 'string', default: '48' },
  },
});
if (!isActivationsOption(args.activations)) throw new Error(`--activations: auto, f32 or int8, got ${args.activations}`);
const decodeTokens = Number(args.decode);
if (!Number.isSafeInteger(decodeTokens) || decodeTokens < 2 || decodeTokens > 1000) throw new Error(`--decode: 2–1000, got ${args.decode}`);

const gpu = await requestNodeGpu({ warn: null });
for (const model of args.models.split(',')) {
  const source = await FileByteSource.open(localModel(model));
  const engine = await loadEngine(source, { gpu, contextSize: 128, activations: args.activations }).finally(() => source.close());
  try {
    const m = await measureRun(engine, gpu, { promptTokens: 8, decodeTokens });
    console.log(
      JSON.stringify({
        model,
        activations: engine.info.activations,
        decodeTokensPerSec: m.decodeTokensPerSec,
        dispatchesPerStep: m.dispatchesPerStep,
      }),
    );
  } finally {
    await engine.dispose();
  }
}
gpu.device.destroy();
