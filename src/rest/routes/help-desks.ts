import Router from '@koa/router';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { Forbidden, NotFound } from '../../errors.ts';
import { organizationName } from '../../events/event.ts';
import type { AuthState } from '../auth.ts';
import { validate } from '../validate.ts';

const ListQuery = z.object({
  organization: z.string().regex(organizationName, 'must be 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
});
const DeskParams = z.object({ uuid: z.guid('must be a UUID') });

/**
 * The seed's two reads, within the caller's organization. PostgreSQL builds the
 * whole JSON answer with the same functions the events use; Node passes it through.
 */
export function helpDeskRoutes(sql: Sql): Router<AuthState> {
  const router = new Router<AuthState>();

  router.get(['/api/help-desks', '/api/help-desks/'], async (ctx) => {
    const own = ctx.state.principal.organization;
    const { organization = own } = validate(ListQuery, ctx.query, 'query');
    if (organization !== own) throw new Forbidden(`this token opens organization "${own}" only`);
    const [row] = await sql`
      SELECT coalesce(json_agg(deskwire.help_desk_json(d) ORDER BY d.created_at DESC, d.id DESC), '[]')::text AS body
      FROM help_desks d
      WHERE d.organization = ${organization}`;
    ctx.type = 'application/json';
    ctx.body = row!.body;
  });

  router.get(['/api/help-desks/:uuid/history', '/api/help-desks/:uuid/history/'], async (ctx) => {
    const { uuid } = validate(DeskParams, ctx.params, 'path');
    // Another organization's desk is "not found": its existence is not revealed.
    const [row] = await sql`
      SELECT
        EXISTS (SELECT 1 FROM help_desks WHERE id = ${uuid} AND organization = ${ctx.state.principal.organization}) AS found,
        (SELECT coalesce(json_agg(deskwire.message_json(m) ORDER BY m.created_at DESC, m.id DESC), '[]')::text
         FROM messages m WHERE m.help_desk_id = ${uuid}) AS body`;
    if (!row!.found) throw new NotFound(`help desk ${uuid} does not exist`);
    ctx.type = 'application/json';
    ctx.body = row!.body;
  });

  return router;
}
