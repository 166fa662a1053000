import Router from '@koa/router';
import Koa from 'koa';
import type { Sql } from 'postgres';
import type { Authenticate } from '../auth/credentials.ts';
import type { Logger } from '../log.ts';
import { type AuthState, authenticated, writeRateLimit } from './auth.ts';
import { errors } from './error-handler.ts';
import { mediaFiles } from './media.ts';
import { healthRoutes } from './routes/health.ts';
import { helpDeskRoutes } from './routes/help-desks.ts';
import { sendMessageRoutes } from './routes/send-message.ts';

export interface RestOptions {
  mediaDir: string;
  maxBodyBytes: number;
  maxUploadBytes: number;
  uploadTypes: string[];
  writeRateLimit: number;
}

/** The REST side: /healthz open; the seed's routes and /media behind a credential. */
export function createRestApp(sql: Sql, authenticate: Authenticate, opts: RestOptions, log: Logger): Koa<AuthState> {
  const app = new Koa<AuthState>();
  app.silent = true; // errors() logs what matters
  app.use(errors(log));

  const health = healthRoutes(sql);
  app.use(health.routes()).use(health.allowedMethods({ throw: true }));

  const api = authenticated(authenticate);
  const media = authenticated(authenticate, { allowQueryToken: true });
  const files = mediaFiles(sql, opts.mediaDir);
  app.use((ctx, next) => {
    if (ctx.path.startsWith('/media/')) return media(ctx, () => files(ctx, next));
    return api(ctx, next);
  });

  // One router for every route: each router is a pass over its routes per request.
  const router = new Router<AuthState>();
  helpDeskRoutes(router, sql);
  sendMessageRoutes(router, sql, opts, writeRateLimit(opts.writeRateLimit));
  app.use(router.routes()).use(router.allowedMethods({ throw: true }));
  return app;
}
