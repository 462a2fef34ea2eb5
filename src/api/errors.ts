/**
 * Typed, countable API errors and their OpenAI-style wire form
 * (`{ error: { message, type, code } }`), so OpenAI clients surface them as-is.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { ReasonError } from '../core/errors.js'

/** Every reason the API turns a request away, one per kind of fault. */
export const API_ERROR_REASONS = [
  'invalid_json',
  'invalid_body',
  'invalid_query',
  'no_user_message',
  'model_not_found',
  'body_too_large',
  'unauthorized',
  'forbidden_host',
  'forbidden_origin',
  'unsupported_media_type',
  'not_found',
  'unknown_answer_id',
  'backend_failed',
  'backend_timeout',
  'node_stopping',
  'internal_error'
] as const
export type ApiErrorReason = (typeof API_ERROR_REASONS)[number]

const STATUS: Record<ApiErrorReason, ContentfulStatusCode> = {
  invalid_json: 400,
  invalid_body: 400,
  invalid_query: 400,
  no_user_message: 400,
  model_not_found: 404,
  body_too_large: 413,
  unauthorized: 401,
  forbidden_host: 403,
  forbidden_origin: 403,
  unsupported_media_type: 415,
  not_found: 404,
  unknown_answer_id: 404,
  backend_failed: 502,
  backend_timeout: 504,
  node_stopping: 503,
  internal_error: 500
}

/** OpenAI's error `type` for each family of status. */
function errorType (reason: ApiErrorReason): string {
  if (reason === 'unauthorized') return 'authentication_error'
  if (reason === 'forbidden_host' || reason === 'forbidden_origin') return 'permission_error'
  if (reason === 'model_not_found' || reason === 'not_found' || reason === 'unknown_answer_id') return 'not_found_error'
  return STATUS[reason] >= 500 ? 'server_error' : 'invalid_request_error'
}

/** The body of every error response. */
export interface OpenAiErrorBody {
  error: { message: string, type: string, code: ApiErrorReason, param: string | null }
}

/** An error the API answers with a 4xx/5xx status; `reason` is its counted kind. */
export class ApiError extends ReasonError<ApiErrorReason> {
  readonly status: ContentfulStatusCode

  constructor (reason: ApiErrorReason, message: string, readonly param: string | null = null) {
    super(reason, message)
    this.status = STATUS[reason]
  }

  toBody (): OpenAiErrorBody {
    return { error: { message: this.message, type: errorType(this.reason), code: this.reason, param: this.param } }
  }
}
