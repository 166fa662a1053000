import type { ParameterizedContext as Context, Middleware } from 'koa';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { bearer, type Authenticate, type Principal } from '../auth/credentials.ts';
import { TooManyRequests } from '../errors.ts';

export interface AuthState {
  principal: Principal;
}

/**
 * Every /api route needs `Authorization: Bearer <token or API key>`. Media links are
 * opened by browsers (an <img> cannot set headers), so they may carry `?token=`.
 */
export function authenticated(authenticate: Authenticate, opts: { allowQueryToken?: boolean } = {}): Middleware<AuthState> {
  return async (ctx, next) => {
    const fromQuery = opts.allowQueryToken && typeof ctx.query.token === 'string' ? ctx.query.token : undefined;
    ctx.state.principal = await authenticate(bearer(ctx.get('authorization')) ?? fromQuery, ctx.ip);
    await next();
  };
}

/** REST writes per credential, per second: over it, 429 with Retry-After. */
export function writeRateLimit(perSecond: number): Middleware<AuthState> {
  return rateLimit(perSecond, (ctx) => ctx.state.principal.credential, 'writes per second with this credential');
}

/** Requests per second per key (`what` names them in the 429's message): over it, 429 with Retry-After. */
export function rateLimit(perSecond: number, keyOf: (ctx: Context<AuthState>) => string, what: string): Middleware<AuthState> {
  const limiter = new RateLimiterMemory({ points: perSecond, duration: 1 });
  return async (ctx, next) => {
    try {
      await limiter.consume(keyOf(ctx));
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      throw new TooManyRequests(`more than ${perSecond} ${what}`, Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
    }
    await next();
  };
}
