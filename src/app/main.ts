// Demo page bootstrap. Until the chat UI lands it reports what this browser's WebGPU offers.
import { requestBrowserGpu } from '../gpu/device.ts';

const status = document.getElementById('status')!;
requestBrowserGpu()
  .then((ctx) => {
    const a = ctx.adapterInfo;
    status.textContent = `WebGPU ready on ${a.vendor} ${a.architecture} (${a.description}); shader-f16: ${ctx.hasF16}, subgroups: ${ctx.hasSubgroups}. The chat UI is coming soon.`;
  })
  .catch((e: Error) => {
    status.textContent = `${e.name}: ${e.message}`;
  });
