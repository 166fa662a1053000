import type Router from '@koa/router';
import type { Sql } from 'postgres';
import { Unavailable } from '../../errors.ts';
import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import type { AuthState } from '../auth.ts';
import { errors, json } from '../openapi/entities.ts';
import { type Readiness, readyAnswer } from '../../ops/readiness.ts';

export const healthPaths: ZodOpenApiPathsObject = {
  '/healthz': {
    get: {
      operationId: 'health',
      tags: ['operations'],
      summary: 'Whether the database answers (no credential)',
      responses: { 200: json('Up.', z.strictObject({ status: z.literal('ok') })), ...errors(503) },
    },
  },
  '/readyz': {
    get: {
      operationId: 'ready',
      tags: ['operations'],
      summary: 'Whether this process takes traffic: started, its event stream live, not draining (no credential)',
      responses: { 200: json('Ready.', z.strictObject({ status: z.literal('ready') })), ...errors(503) },
    },
  },
};

/** GET /healthz, open to all: 200 while the database answers, 503 when it does not. */
export function healthRoutes(router: Router<AuthState>, sql: Sql, readiness: Readiness): void {
  // 503 with the error body and the state (starting, catching_up, draining): see src/ops/readiness.ts.
  router.get('/readyz', (ctx) => {
    const { status, body } = readyAnswer(readiness.state());
    ctx.status = status;
    ctx.type = 'application/json';
    ctx.body = body;
  });
  router.get('/healthz', async (ctx) => {
    const answered = await Promise.race([
      sql`SELECT 1`.then(() => true, () => false),
      new Promise<boolean>((resolve) => setTimeout(resolve, 2000, false).unref()),
    ]);
    if (!answered) throw new Unavailable('database is unreachable');
    ctx.body = { status: 'ok' };
  });
}
