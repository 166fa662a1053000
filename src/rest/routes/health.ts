import type Router from '@koa/router';
import type { Sql } from 'postgres';
import { Unavailable } from '../../errors.ts';
import type { AuthState } from '../auth.ts';

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
