import Router from '@koa/router';
import Koa from 'koa';
import type { Sql } from 'postgres';
import type { Authenticate } from '../auth/credentials.ts';
import { BadRequest } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Numbered } from '../rooms/numbered.ts';
import { type AuthState, authenticated, writeRateLimit } from './auth.ts';
import { errors } from './error-handler.ts';
import { httpMetrics } from '../metrics/server.ts';
import { mediaFiles } from './media.ts';
import type { Readiness } from '../ops/readiness.ts';
import { docsAssets, documentRoutes } from './openapi/serve.ts';
import { assignRoutes } from './routes/assign.ts';
import { healthRoutes } from './routes/health.ts';
import { helpDeskRoutes } from './routes/help-desks.ts';
import { inboundRoutes } from './routes/inbound.ts';
import { roomRoutes } from './routes/rooms.ts';
import { sendMessageRoutes } from './routes/send-message.ts';

export interface RestOptions {
  mediaDir: string;
  maxBodyBytes: number;
  maxUploadBytes: number;
  uploadTypes: string[];
  writeRateLimit: number;
  /** The WebSocket port, named to a client that knocks on this one. */
  wsPort: number;
  maxEventBytes: number;
  inboundRateLimit: number;
  /** Room events' ids as the stream numbers them. */
  numbered: Numbered;
  /** What GET /readyz answers. */
  readiness: Readiness;
  /** The agent console's page and files (src/console), before the API's routes. */
  console?: Koa.Middleware;
}

/**
 * The REST side: /healthz open; the seed's routes and /media behind a credential.
 * Routing comes first: an unknown path is a 404 and a wrong method a 405 whatever
 * the credential, and a credential is checked only for a route that exists.
 */
export function createRestApp(sql: Sql, authenticate: Authenticate, opts: RestOptions, log: Logger): Koa<AuthState> {
  const app = new Koa<AuthState>();
  app.silent = true; // errors() logs what matters
  app.use(httpMetrics); // outermost: it sees the status errors() sets
  app.use(errors(log));
  app.use((ctx, next) => {
    if (ctx.get('upgrade').toLowerCase() !== 'websocket') return next();
    throw new BadRequest('wrong_port', `WebSocket connections go to port ${opts.wsPort} (WS_PORT); this is the REST port`);
  });

  // One router for every route: each router is a pass over its routes per request.
  app.use(docsAssets);
  if (opts.console) app.use(opts.console);
  const router = new Router<AuthState>();
  healthRoutes(router, sql, opts.readiness);
  documentRoutes(router);
  // Signed by the provider, not an agent's: registered before the credential check,
  // which its handler never passes on to.
  inboundRoutes(router, sql, opts);
  // router.use runs only when a route matched (path and method).
  router.use('/api', authenticated(authenticate));
  router.use('/media', authenticated(authenticate, { allowQueryToken: true }));
  router.get('/media/{*file}', mediaFiles(sql, opts.mediaDir));
  const writes = writeRateLimit(opts.writeRateLimit);
  helpDeskRoutes(router, sql);
  assignRoutes(router, sql, opts, writes);
  sendMessageRoutes(router, sql, opts, writes);
  roomRoutes(router, sql, opts, writes, opts.numbered);
  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
