import type Router from '@koa/router';
import type Koa from 'koa';
import { koaBody } from 'koa-body';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { BadRequest, NotFound, UnsupportedMediaType } from '../../errors.ts';
import type { AuthState } from '../auth.ts';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errors, HelpDesk, json } from '../openapi/entities.ts';
import { agentSecurity, routePaths } from '../openapi/paths.ts';
import { hasNoBody, validate } from '../validate.ts';

const DeskParams = z.object({ uuid: z.guid('must be a UUID') });
const Body = z.strictObject({
  // An agent: the `sub` of the tokens it uses. null: nobody.
  assignee: z
    .string()
    .min(1, 'must not be empty (null unassigns)')
    .max(256)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
    .nullable()
    .meta({ description: 'The agent (a token\'s `sub`) to assign the desk to; null unassigns.' }),
});

const desk = '/api/help-desks/{uuid}/';

export const assignPaths: ZodOpenApiPathsObject = {
  [desk]: {
    patch: {
      operationId: 'assignHelpDesk',
      tags: ['help desks'],
      summary: 'Assign a desk to an agent, or unassign it (an update_helpdesk event)',
      security: agentSecurity,
      requestParams: { path: DeskParams },
      requestBody: { required: true, content: { 'application/json': { schema: Body } } },
      responses: { 200: json('The desk, as it is now.', HelpDesk), ...errors(400, 401, 404, 413, 415, 429, 503) },
    },
  },
};

/**
 * PATCH /api/help-desks/<uuid>/ {"assignee": "<sub>" | null}: 200 with the desk.
 * A plain SQL UPDATE of help_desks.assignee does the same, event included.
 */
export function assignRoutes(router: Router<AuthState>, sql: Sql, opts: { maxBodyBytes: number }, limit: Koa.Middleware<AuthState>): void {
  const json = koaBody({ json: true, urlencoded: false, multipart: false, text: false, jsonLimit: opts.maxBodyBytes });
  router.patch(routePaths(desk), limit, json, async (ctx) => {
    const { uuid } = validate(DeskParams, ctx.params, 'path');
    if (hasNoBody(ctx)) throw new BadRequest('invalid_body', 'the body is empty: send {"assignee": "<agent>" | null}');
    if (!ctx.is('json')) throw new UnsupportedMediaType('send application/json');
    const { assignee } = validate(Body, ctx.request.body, 'body');
    const rows = await sql`
      WITH u AS (
        UPDATE help_desks SET assignee = ${assignee}
        WHERE id = ${uuid} AND organization = ${ctx.state.principal.organization}
        RETURNING *
      )
      SELECT deskwire.help_desk_json(u::help_desks, c, last)
      FROM u JOIN clients c ON c.id = u.client_id
      LEFT JOIN LATERAL (
        SELECT * FROM messages m WHERE m.help_desk_id = u.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1
      ) last ON true`.raw();
    const body = rows[0]?.[0];
    if (!body) throw new NotFound(`help desk ${uuid} does not exist`);
    ctx.type = 'application/json';
    ctx.body = body;
  });
}
