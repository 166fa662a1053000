import type Router from '@koa/router';
import type { Sql } from 'postgres';
import { Unavailable } from '../../errors.ts';
import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import type { AuthState } from '../auth.ts';
import { errors, json } from '../openapi/entities.ts';

export const healthPaths: ZodOpenApiPathsObject = {
  '/healthz': {
    get: {
      operationId: 'health',
      tags: ['operations'],
      summary: 'Whether the database answers (no credential)',
      responses: { 200: json('Up.', z.strictObject({ status: z.literal('ok') })), ...errors(503) },
    },
  },
};

/** GET /healthz, open to all: 200 while the database answers, 503 when it does not. */
export function healthRoutes(router: Router<AuthState>, sql: Sql): void {
  router.get('/healthz', async (ctx) => {
    const answered = await Promise.race([
      sql`SELECT 1`.then(() => true, () => false),
      new Promise<boolean>((resolve) => setTimeout(resolve, 2000, false).unref()),
    ]);
    if (!answered) throw new Unavailable('database is unreachable');
    ctx.body = { status: 'ok' };
  });
}
