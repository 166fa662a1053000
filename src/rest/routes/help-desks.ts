import Router from '@koa/router';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { BadRequest, Forbidden, NotFound } from '../../errors.ts';
import { organizationName, organizationNameRule } from '../../domain.ts';
import type { AuthState } from '../auth.ts';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errors, HelpDesk, json, Message } from '../openapi/entities.ts';
import { agentSecurity, routePaths } from '../openapi/paths.ts';
import { validate } from '../validate.ts';

const ListQuery = z.object({
  organization: z.string().regex(organizationName, organizationNameRule).optional()
    .meta({ description: 'The credential\'s organization (the default); any other is a 403.' }),
});
const DeskParams = z.object({ uuid: z.guid('must be a UUID') });
const HistoryQuery = z.object({
  before: z.guid('must be the uuid of a message of this desk').optional().meta({ description: 'Messages older than this one (a page back).' }),
  after: z.guid('must be the uuid of a message of this desk').optional().meta({ description: 'Messages newer than this one (a gap filled), oldest first unless `before` is given too.' }),
  limit: z.coerce.number().int().min(1).max(1000).optional().meta({ description: 'Page size; 100 when `before` or `after` is given.' }),
});
/** A page when the caller pages (before, after or limit); the seed's answer was the whole history. */
const defaultPage = 100;

const list = '/api/help-desks/';
const history = '/api/help-desks/{uuid}/history/';

export const helpDeskPaths: ZodOpenApiPathsObject = {
  [list]: {
    get: {
      operationId: 'listHelpDesks',
      tags: ['help desks'],
      summary: 'The organization\'s help desks, newest first, each with its last message',
      security: agentSecurity,
      requestParams: { query: ListQuery },
      responses: { 200: json('The desks.', z.array(HelpDesk)), ...errors(400, 401, 403, 503) },
    },
  },
  [history]: {
    get: {
      operationId: 'getHistory',
      tags: ['help desks'],
      summary: 'A desk\'s messages, newest first: all of them, or a keyset page',
      security: agentSecurity,
      requestParams: { path: DeskParams, query: HistoryQuery },
      responses: { 200: json('The messages.', z.array(Message)), ...errors(400, 401, 404, 503) },
    },
  },
};

/**
 * The seed's two reads, within the caller's organization. PostgreSQL builds the
 * whole JSON answer with the same functions the events use; Node passes its bytes
 * through (`.raw()`): a history of 100 messages is ~40 KB that would otherwise be
 * decoded into a string and encoded back for the socket, on every request.
 */
export function helpDeskRoutes(router: Router<AuthState>, sql: Sql): void {
  router.get(routePaths(list), async (ctx) => {
    const own = ctx.state.principal.organization;
    const { organization = own } = validate(ListQuery, ctx.query, 'query');
    if (organization !== own) throw new Forbidden(`this token opens organization "${own}" only`);
    // Each desk from its prefix (kept by triggers, sql/030_desk_changes.sql) and its
    // last message: the events' own two pieces. A desk written with triggers off has
    // no prefix yet, and gets it rendered here.
    const [[body]] = await sql`
      SELECT '[' || coalesce(string_agg(deskwire.desk_json(
          coalesce(p.prefix, (SELECT deskwire.desk_prefix(d, c) FROM clients c WHERE c.id = d.client_id)),
          deskwire.message_json(last)), ',' ORDER BY d.created_at DESC, d.id DESC), '') || ']' AS body
      FROM help_desks d
      LEFT JOIN desk_prefixes p ON p.desk_id = d.id
      LEFT JOIN LATERAL (
        SELECT * FROM messages m WHERE m.help_desk_id = d.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1
      ) last ON true
      WHERE d.organization = ${organization}`.raw();
    ctx.type = 'application/json';
    ctx.body = body;
  });

  router.get(routePaths(history), async (ctx) => {
    const { uuid } = validate(DeskParams, ctx.params, 'path');
    const { before, after, limit } = validate(HistoryQuery, ctx.query, 'query');
    const paging = before !== undefined || after !== undefined || limit !== undefined;
    // Keyset pages: messages strictly older than `before` and newer than `after`;
    // `after` alone takes the ones just after it (to fill a gap), `before` the ones just before.
    const ascending = after !== undefined && before === undefined;
    const b = before ?? null;
    const a = after ?? null;
    const [[found, anchored, body]] = await sql`
      WITH desk AS (
        -- Another organization's desk is "not found": its existence is not revealed.
        SELECT id FROM help_desks WHERE id = ${uuid} AND organization = ${ctx.state.principal.organization}
      ),
      b AS (SELECT created_at, id FROM messages WHERE id = ${b} AND help_desk_id = ${uuid}),
      a AS (SELECT created_at, id FROM messages WHERE id = ${a} AND help_desk_id = ${uuid}),
      page AS (
        SELECT m.* FROM messages m JOIN desk ON m.help_desk_id = desk.id
        WHERE (${b}::uuid IS NULL OR (m.created_at, m.id) < (SELECT created_at, id FROM b))
          AND (${a}::uuid IS NULL OR (m.created_at, m.id) > (SELECT created_at, id FROM a))
        ORDER BY
          CASE WHEN ${ascending} THEN m.created_at END, CASE WHEN ${ascending} THEN m.id END,
          m.created_at DESC, m.id DESC
        LIMIT ${paging ? (limit ?? defaultPage) : null}
      )
      SELECT
        EXISTS (SELECT 1 FROM desk) AS found,
        (${b}::uuid IS NULL OR EXISTS (SELECT 1 FROM b)) AND (${a}::uuid IS NULL OR EXISTS (SELECT 1 FROM a)) AS anchored,
        (SELECT '[' || coalesce(string_agg(deskwire.message_json(p), ',' ORDER BY p.created_at DESC, p.id DESC), '') || ']' FROM page p) AS body`.raw();
    if (!isTrue(found)) throw new NotFound(`help desk ${uuid} does not exist`);
    if (!isTrue(anchored)) throw new BadRequest('invalid_query', 'before/after: no such message in this help desk');
    ctx.type = 'application/json';
    ctx.body = body;
  });
}

/** A boolean of a raw row: its text form, `t` or `f`. */
function isTrue(value: Buffer | null | undefined): boolean {
  return value?.[0] === 0x74;
}
