/**
 * Errors users can act on. Every error lowbit throws on purpose is a LowbitError subclass whose
 * message names the file, tensor, field or limit involved; `name` is the class name so it survives
 * structured cloning to and from the worker.
 */
export class LowbitError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Malformed or hostile GGUF bytes. `offset` is the byte offset of the offending field, when known. */
export class GGUFFormatError extends LowbitError {
  constructor(
    message: string,
    readonly offset?: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** A tensor type lowbit knows but cannot run (IQ*, MXFP4, …) or an unknown type id. */
export class UnsupportedTensorTypeError extends LowbitError {
  constructor(
    message: string,
    readonly typeId?: number,
    readonly tensorName?: string,
  ) {
    super(message);
  }
}

/** No WebGPU adapter could be had; the message says what to do about it. */
export class WebGPUUnavailableError extends LowbitError {}

/** The GPU device was lost (driver reset, tab backgrounded too long, out of memory). */
export class DeviceLostError extends LowbitError {
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** Storage ran out; `neededBytes` says how much more space the operation needs. */
export class QuotaExceededError extends LowbitError {
  constructor(
    message: string,
    readonly neededBytes?: number,
    readonly availableBytes?: number,
  ) {
    super(message);
  }
}

/** A model needs more than the device allows (buffer size, binding size, memory). */
export class DeviceLimitError extends LowbitError {}

/**
 * A model would need more GPU memory than allowed (the maxGpuBytes budget, or a buffer over the
 * device's binding limit at the chosen context), found from the header before anything is
 * allocated. `largestContext` is the largest context size that would fit (0: none, the weights
 * alone do not).
 */
export class GpuMemoryBudgetError extends DeviceLimitError {
  constructor(
    message: string,
    readonly neededBytes?: number,
    readonly availableBytes?: number,
    readonly largestContext?: number,
  ) {
    super(message);
  }
}

/** Model metadata or tensors do not describe a model lowbit can run. */
export class ModelFormatError extends LowbitError {}

/** Prompt plus requested tokens exceed the context window. */
export class ContextOverflowError extends LowbitError {
  constructor(
    message: string,
    readonly needed: number,
    readonly contextSize: number,
  ) {
    super(message);
  }
}

/** A download failed in a way retrying will not fix (404, changed file without resume, bad hash). */
export class DownloadError extends LowbitError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The browser is offline and the model is not in the store: nothing to try until it is online. */
export class OfflineError extends DownloadError {}

/** Integrity check failed (sha256 mismatch, short chunk that could not be re-fetched). */
export class IntegrityError extends LowbitError {}

/** No model file or stored model matches what the user named (CLI argument, catalogue id). */
export class ModelNotFoundError extends LowbitError {}

/** Text a tokenizer cannot encode, or a tokenizer kind lowbit does not implement. */
export class TokenizerError extends LowbitError {}

/** A chat template failed to parse or render (the template's own raise_exception included). */
export class ChatTemplateError extends LowbitError {}

/** An OpenAI-compatible server's address (`<llm-chat endpoint>`) is not one lowbit will call. */
export class InvalidEndpointError extends LowbitError {}

/**
 * An OpenAI-compatible server refused or failed a request: an HTTP error status (`status`), an
 * OpenAI error object (its `type` and `code`, also when it arrives mid-stream), or no answer at all
 * (`status` undefined: unreachable, or blocked by CORS).
 */
export class RemoteServerError extends LowbitError {
  constructor(
    message: string,
    readonly status?: number,
    readonly errorType?: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** An OpenAI-compatible server went silent for longer than the client waits. */
export class RemoteTimeoutError extends RemoteServerError {}

/** A server's reply is not a valid OpenAI response: garbled, oversized, of the wrong shape, or cut short. */
export class RemoteProtocolError extends LowbitError {}
/**
 * A quantization request that cannot be carried out: an unknown target type, an input tensor
 * already stored with fewer bits than its target, a row length no type can hold.
 */
export class QuantizeError extends LowbitError {}
