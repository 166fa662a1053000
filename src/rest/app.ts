import Koa from 'koa';
import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import { errors } from './errors.ts';
import { serveMedia } from './media.ts';
import { healthRoutes } from './routes/health.ts';
import { helpDeskRoutes } from './routes/help-desks.ts';
import { sendMessageRoutes } from './routes/send-message.ts';

export interface RestOptions {
  mediaDir: string;
  maxBodyBytes: number;
  maxUploadBytes: number;
}

/** The REST side: the seed's routes, /healthz and /media, on Koa. */
export function createRestApp(sql: Sql, opts: RestOptions, log: Logger): Koa {
  const app = new Koa();
  app.silent = true; // errors() logs what matters
  app.use(errors(log));
  app.use(serveMedia(opts.mediaDir));
  for (const router of [helpDeskRoutes(sql), sendMessageRoutes(sql, opts), healthRoutes(sql)]) {
    app.use(router.routes());
    app.use(router.allowedMethods({ throw: true }));
  }
  return app;
}
