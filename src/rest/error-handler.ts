import type { Middleware } from 'koa';
import { HttpError, NotFound, PayloadTooLarge, renderError, Unavailable, UnsupportedMediaType } from '../errors.ts';
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
      if (ctx.body === undefined && ctx.status === 404) throw new NotFound(`no route for ${ctx.method} ${ctx.path}`);
      // The router's 405 (501 for a method it knows nothing of) with Allow set: say it in JSON.
      if (ctx.body === undefined && (ctx.status === 405 || ctx.status === 501)) {
        throw new HttpError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}`);
      }
    } catch (err) {
      const e = toHttpError(err);
      if (e.status >= 500 && !(e instanceof Unavailable)) log.error({ err }, 'request failed');
      const answer = renderError(e);
      ctx.status = answer.status;
      ctx.set(answer.headers);
      ctx.body = answer.body;
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
    const code = e.type === 'entity.parse.failed' || err instanceof SyntaxError ? 'invalid_json' : 'bad_request';
    return new HttpError(code, String(e.message), status);
  }
  return new HttpError('internal', 'internal server error');
}
