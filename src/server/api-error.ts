/**
 * Errors as lowbit serve answers them: an HTTP status and OpenAI's error object
 * `{error: {message, type, param, code}}`, which the official clients turn into their typed
 * errors (BadRequestError, AuthenticationError, RateLimitError, …).
 */
import { ChatTemplateError, ContextOverflowError, LowbitError, TokenizerError } from '../errors.ts';
import { RequestRangeError, RequestTypeError } from '../engine/openai.ts';
import { QueueFullError, SchedulerClosedError } from './slot-scheduler.ts';

/** The `type` OpenAI-compatible servers give each status. */
const TYPE_OF_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'server_error',
  503: 'unavailable_error',
};

export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A request the server refuses, with the status and the fields of OpenAI's error object. */
export class ApiError extends LowbitError {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    /** Seconds, for a Retry-After header (429, 503). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  get body(): ApiErrorBody {
    return { error: { message: this.message, type: TYPE_OF_STATUS[this.status] ?? 'server_error', param: this.param, code: this.code } };
  }
}

/**
 * The answer to an error thrown while serving a request. Errors about the request itself are 400s
 * that name the field; anything unexpected is a 500 whose message says nothing of the internals
 * (`internal` is then true and the caller logs the original).
 */
export function toApiError(e: unknown): { error: ApiError; internal: boolean } {
  if (e instanceof ApiError) return { error: e, internal: false };
  if (e instanceof RequestTypeError || e instanceof RequestRangeError) {
    return { error: new ApiError(400, e.message, 'invalid_value', e.param), internal: false };
  }
  if (e instanceof ContextOverflowError) return { error: new ApiError(400, e.message, 'context_length_exceeded'), internal: false };
  // The prompt could not be tokenized or rendered with the model's chat template.
  if (e instanceof TokenizerError || e instanceof ChatTemplateError) {
    return { error: new ApiError(400, e.message, 'invalid_prompt'), internal: false };
  }
  if (e instanceof QueueFullError) {
    return { error: new ApiError(429, e.message, 'queue_full', null, e.retryAfterSeconds), internal: false };
  }
  if (e instanceof SchedulerClosedError) return { error: new ApiError(503, e.message, 'shutting_down'), internal: false };
  if (e instanceof LowbitError) return { error: new ApiError(500, `${e.name}: ${e.message}`, 'engine_error'), internal: false };
  return { error: new ApiError(500, 'internal server error (logged by the server)', 'internal_error'), internal: true };
}
