import type { Middleware } from 'koa';
import { HttpError, NotFound, PayloadTooLarge, TooManyRequests, Unavailable, UnsupportedMediaType } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * The one place errors become HTTP answers. Body parsers report caller mistakes
 * with a `status` (raw-body, co-body) or an `httpCode` (formidable); those keep
 * their 4xx. Anything else is our fault: logged, and answered with a bare 500.
 */
export function errors(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new NotFound(`no route for ${ctx.method} ${ctx.path}`);
    } catch (err) {
      const e = toHttpError(err);
      if (e.status >= 500 && !(e instanceof Unavailable)) log.error({ err }, 'request failed');
      ctx.status = e.status;
      if (e instanceof TooManyRequests) ctx.set('Retry-After', String(e.retryAfterSeconds));
      if (e.status === 401) ctx.set('WWW-Authenticate', 'Bearer');
      ctx.body = { error: { code: e.code, message: e.message } };
    }
  };
}

/** postgres.js and socket errors that mean "the database is not there right now". */
const unreachable = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P03']);

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (unreachable.has((err as { code?: string }).code ?? '')) return new Unavailable('database is unreachable; try again');
  const e = err as { status?: number; httpCode?: number; type?: string; message?: string };
  const status = e.status ?? e.httpCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 413) return new PayloadTooLarge(e.type === 'entity.too.large' ? 'request body is too large' : String(e.message));
    if (status === 415) return new UnsupportedMediaType(String(e.message));
    const code =
      status === 405 ? 'method_not_allowed'
      : e.type === 'entity.parse.failed' || err instanceof SyntaxError ? 'invalid_json'
      : 'bad_request';
    return new HttpError(status, code, String(e.message));
  }
  return new HttpError(500, 'internal', 'internal server error');
}
