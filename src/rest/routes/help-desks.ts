import Router from '@koa/router';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { organizationName } from '../../events/event.ts';
import { NotFound } from '../errors.ts';
import { validate } from '../validate.ts';

const ListQuery = z.object({
  organization: z.string().regex(organizationName, 'must be 1-64 characters of A-Z a-z 0-9 _ . -'),
});
const DeskParams = z.object({ uuid: z.guid('must be a UUID') });

/**
 * The seed's two reads. PostgreSQL builds the whole JSON answer with the same
 * functions the events use; Node passes the text through untouched.
 */
export function helpDeskRoutes(sql: Sql): Router {
  const router = new Router();

  router.get(['/api/help-desks', '/api/help-desks/'], async (ctx) => {
    const { organization } = validate(ListQuery, ctx.query, 'query');
    const [row] = await sql`
      SELECT coalesce(json_agg(deskwire.help_desk_json(d) ORDER BY d.created_at DESC, d.id DESC), '[]')::text AS body
      FROM help_desks d
      WHERE d.organization = ${organization}`;
    ctx.type = 'application/json';
    ctx.body = row!.body;
  });

  router.get(['/api/help-desks/:uuid/history', '/api/help-desks/:uuid/history/'], async (ctx) => {
    const { uuid } = validate(DeskParams, ctx.params, 'path');
    const [row] = await sql`
      SELECT
        EXISTS (SELECT 1 FROM help_desks WHERE id = ${uuid}) AS found,
        (SELECT coalesce(json_agg(deskwire.message_json(m) ORDER BY m.created_at DESC, m.id DESC), '[]')::text
         FROM messages m WHERE m.help_desk_id = ${uuid}) AS body`;
    if (!row!.found) throw new NotFound(`help desk ${uuid} does not exist`);
    ctx.type = 'application/json';
    ctx.body = row!.body;
  });

  return router;
}
