/**
 * What the chat UI says about an error: a headline a user understands, the error's own message
 * (which names the limit, tensor or file involved) and, when there is one, what to do next.
 */
export interface ErrorText {
  title: string;
  detail: string;
  hint?: string;
}

export function describeError(err: unknown): ErrorText {
  const e = (typeof err === 'object' && err !== null ? err : { name: 'Error', message: String(err) }) as {
    name?: string;
    message?: string;
  };
  const detail = e.message || String(err);
  switch (e.name) {
    case 'WebGPUUnavailableError':
      return {
        title: 'WebGPU is not available in this browser',
        detail,
        hint: 'Use a recent Chrome, Edge or Safari with WebGPU enabled (Firefox: enable dom.webgpu.enabled), on a device with a supported GPU.',
      };
    case 'GpuMemoryBudgetError':
      return { title: 'This model is too big for this device', detail, hint: 'Load it with a smaller context size (the message says which fits), or pick a smaller model.' };
    case 'DeviceLimitError':
      return { title: 'This model is too big for this device', detail, hint: 'Pick a smaller model or a lower-bit quantization.' };
    case 'DeviceLostError':
      return { title: 'The GPU stopped responding', detail, hint: 'Reload the model to continue (it is read back from this device, not downloaded again); if it keeps happening, try a smaller model.' };
    case 'QuotaExceededError':
      return { title: 'Not enough storage for this model', detail, hint: 'Delete cached models or free disk space, then retry: the download resumes where it stopped.' };
    case 'DownloadError':
      return { title: 'The model could not be downloaded', detail, hint: 'Check the connection and the model URL, then retry.' };
    case 'IntegrityError':
      return { title: 'The downloaded model is damaged', detail, hint: 'Delete it from the cache and download it again.' };
    case 'GGUFFormatError':
    case 'ModelFormatError':
      return { title: 'This file is not a model lowbit can read', detail };
    case 'UnsupportedTensorTypeError':
      return { title: 'This model uses a quantization lowbit cannot run', detail, hint: 'Try a Q4_K_M, Q8_0 or BitNet (I2_S/TQ) file of the same model.' };
    case 'ContextOverflowError':
      return { title: 'The conversation no longer fits the context window', detail, hint: 'Start a new chat, or load the model with a larger context size.' };
    default:
      return { title: e.name && e.name !== 'Error' && e.name !== 'LowbitError' ? e.name : 'Something went wrong', detail };
  }
}
