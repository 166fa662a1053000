// Every error code deskwire answers with, and its HTTP status: the catalogue that
// docs/errors.md explains (a test holds the two together). REST and the WebSocket
// upgrade both answer {"error": {"code", "message"}}, rendered by renderError.
import { STATUS_CODES } from 'node:http';

export const errorCodes = {
  invalid_query: 400,
  invalid_path: 400,
  invalid_body: 400,
  invalid_json: 400,
  invalid_organization: 400,
  invalid_since: 400,
  bad_request: 400,
  wrong_port: 400,
  invalid_topic: 400,
  too_many_topics: 400,
  invalid_frame: 400,
  unauthorized: 401,
  invalid_signature: 401,
  stale_timestamp: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** An error the caller caused or may retry. `status` differs from the code's only for a body parser's own 4xx. */
export class HttpError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    status?: number,
  ) {
    super(message);
    this.status = status ?? errorCodes[code];
  }
}

export class BadRequest extends HttpError {}

export class Unauthorized extends HttpError {
  constructor(message = 'a valid token is required') {
    super('unauthorized', message);
  }
}

export class Forbidden extends HttpError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

export class NotFound extends HttpError {
  constructor(message = 'not found') {
    super('not_found', message);
  }
}

export class PayloadTooLarge extends HttpError {
  constructor(message: string) {
    super('too_large', message);
  }
}

export class UnsupportedMediaType extends HttpError {
  constructor(message: string) {
    super('unsupported_media_type', message);
  }
}

export class TooManyRequests extends HttpError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('too_many_requests', message);
  }
}

export class Unavailable extends HttpError {
  constructor(message: string) {
    super('unavailable', message);
  }
}

/** An error as an HTTP answer, the same for Koa and for uWS. */
export function renderError(e: HttpError): { status: number; statusLine: string; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (e instanceof TooManyRequests) headers['retry-after'] = String(e.retryAfterSeconds);
  if (e.status === 401) headers['www-authenticate'] = 'Bearer';
  return {
    status: e.status,
    statusLine: `${e.status} ${STATUS_CODES[e.status] ?? 'Error'}`,
    headers,
    body: JSON.stringify({ error: { code: e.code, message: e.message } }),
  };
}
