// The few errors deskwire answers with, each bound to its HTTP status. The REST
// error handler and the WebSocket upgrade both answer them as
// {"error": {"code", "message"}}.

/** An error the caller caused or may retry: answered as {"error": {"code", "message"}}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class BadRequest extends HttpError {
  constructor(code: string, message: string) {
    super(400, code, message);
  }
}

export class Unauthorized extends HttpError {
  constructor(message = 'a valid token is required') {
    super(401, 'unauthorized', message);
  }
}

export class Forbidden extends HttpError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}

export class NotFound extends HttpError {
  constructor(message = 'not found') {
    super(404, 'not_found', message);
  }
}

export class PayloadTooLarge extends HttpError {
  constructor(message: string) {
    super(413, 'too_large', message);
  }
}

export class UnsupportedMediaType extends HttpError {
  constructor(message: string) {
    super(415, 'unsupported_media_type', message);
  }
}

export class TooManyRequests extends HttpError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(429, 'too_many_requests', message);
  }
}

export class Unavailable extends HttpError {
  constructor(message: string) {
    super(503, 'unavailable', message);
  }
}

