/**
 * What the chat UI says about an error: a headline a user understands, the error's own message
 * (which names the limit, tensor or file involved) and, when there is one, what to do next.
 */
export interface ErrorText {
  title: string;
  detail: string;
  hint?: string;
  /** The URL and low-level cause, shown folded (an expandable line) under a plain `detail`. */
  technical?: string;
}

export function describeError(err: unknown): ErrorText {
  const e = (typeof err === 'object' && err !== null ? err : { name: 'Error', message: String(err) }) as {
    name?: string;
    message?: string;
    status?: unknown;
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
      return {
        title: 'This model is too big for this device',
        detail,
        hint: 'Load it with a smaller context size (the message says which fits), or pick a smaller model.',
      };
    case 'DeviceLimitError':
      return { title: 'This model is too big for this device', detail, hint: 'Pick a smaller model or a lower-bit quantization.' };
    case 'DeviceLostError':
      return {
        title: 'The GPU stopped responding',
        detail,
        hint: 'Reload the model to continue (it is read back from this device, not downloaded again); if it keeps happening, try a smaller model.',
      };
    case 'QuotaExceededError':
      return {
        title: 'Not enough storage for this model',
        detail,
        hint: 'Delete cached models or free disk space, then retry: the download resumes where it stopped.',
      };
    case 'OfflineError':
      return {
        title: "You're offline — this model isn't downloaded yet",
        detail: 'It can be downloaded once this device is back online.',
        hint: 'Reconnect and retry, or pick a model marked "cached".',
        technical: detail,
      };
    case 'DownloadError':
      return {
        title: 'The model could not be downloaded',
        detail: downloadSummary(e),
        hint: 'Check the connection and the model URL, then retry.',
        technical: detail,
      };
    case 'IntegrityError':
      return { title: 'The downloaded model is damaged', detail, hint: 'Delete it from the cache and download it again.' };
    case 'GGUFFormatError':
    case 'ModelFormatError':
      return { title: 'This file is not a model lowbit can read', detail };
    case 'UnsupportedTensorTypeError':
      return {
        title: 'This model uses a quantization lowbit cannot run',
        detail,
        hint: 'Try a Q4_K_M, Q8_0 or BitNet (I2_S/TQ) file of the same model.',
      };
    case 'ContextOverflowError':
      return {
        title: 'The conversation no longer fits the context window',
        detail,
        hint: 'Start a new chat, or load the model with a larger context size.',
      };
    case 'InvalidEndpointError':
      return {
        title: 'This server address cannot be used',
        detail,
        hint: 'Give the base URL of its OpenAI-compatible API, e.g. https://host/v1.',
      };
    case 'RemoteTimeoutError':
      return { title: 'The server stopped answering', detail, hint: 'It may be overloaded or still processing a long prompt: try again.' };
    case 'RemoteServerError':
      return { title: 'The server refused or failed the request', detail, hint: remoteHint(e) };
    case 'RemoteProtocolError':
      return {
        title: "The server's reply could not be read",
        detail,
        hint: 'The endpoint must be an OpenAI-compatible API (its /chat/completions streaming server-sent events).',
      };
    default:
      return { title: e.name && e.name !== 'Error' && e.name !== 'LowbitError' ? e.name : 'Something went wrong', detail };
  }
}

/** One plain sentence for a DownloadError; its message (URL, range, attempts, cause) goes under "Details". */
function downloadSummary(e: { message?: string; status?: unknown }): string {
  const status = typeof e.status === 'number' ? e.status : undefined;
  const message = e.message ?? '';
  if (/Content-Range/.test(message))
    return 'The model server must expose the Content-Range, Content-Length and ETag headers to this page (CORS Access-Control-Expose-Headers); see the README.';
  if (status === 404) return 'The model file was not found on the server.';
  if (status === 401 || status === 403) return 'The server refused access to the model file.';
  if (status !== undefined && status >= 500) return `The server failed (HTTP ${status}).`;
  if (/attempts/.test(message)) return 'The server could not be reached, even after several tries.';
  return 'The download failed.';
}

/** What to do about a RemoteServerError, from its HTTP status (none: the server was never reached). */
function remoteHint(e: { status?: unknown }): string {
  const status = typeof e.status === 'number' ? e.status : undefined;
  if (status === undefined)
    return "Check the URL, that the server runs, and that it allows this page's origin (CORS: lowbit serve --cors-origin, llama-server --cors-origins, vLLM --allowed-origins, Ollama OLLAMA_ORIGINS).";
  if (status === 401 || status === 403) return 'Check the API key (or the proxy that adds it).';
  if (status === 404) return 'Check the endpoint (it usually ends in /v1) and the model name.';
  if (status === 429) return 'The server is busy: wait a moment and send again.';
  if (status >= 500) return 'The server failed: try again, or check its log.';
  return 'Check the model name and the request settings (temperature, max tokens).';
}
