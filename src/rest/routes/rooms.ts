import { randomUUID } from 'node:crypto';
import type Router from '@koa/router';
import type Koa from 'koa';
import { koaBody } from 'koa-body';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { reservedEventTypes, roomEventType, roomName, roomNameRule } from '../../domain.ts';
import { BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType } from '../../errors.ts';
import type { Numbered } from '../../rooms/numbered.ts';
import type { AuthState } from '../auth.ts';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errors, json } from '../openapi/entities.ts';
import { agentSecurity, routePaths } from '../openapi/paths.ts';
import { hasNoBody, validate } from '../validate.ts';

/** How long a publish waits for its event id before answering without one (the event still goes out). */
const numberWaitMs = 5000;

const Params = z.object({ name: z.string().regex(roomName, roomNameRule) });
const Body = z.strictObject({
  type: z
    .string()
    .regex(roomEventType, 'must match [a-z][a-z0-9_.-]{0,63}')
    .refine((t) => !(reservedEventTypes as readonly string[]).includes(t), 'is one of deskwire\'s own event types'),
  data: z.unknown().refine((d) => d !== undefined, 'is required').meta({ description: 'Any JSON, up to MAX_EVENT_BYTES.' }),
});
const Published = z.strictObject({
  id: z.string().nullable().meta({ description: 'The event\'s id in the stream (resume with it); null if it was not numbered within 5 s (it still goes out).' }),
});

const path = '/api/rooms/{name}/events/';

export const roomPaths: ZodOpenApiPathsObject = {
  [path]: {
    post: {
      operationId: 'publishRoomEvent',
      tags: ['rooms'],
      summary: 'Publish an event to a room of the credential\'s organization',
      description: 'What `SELECT deskwire.publish(org, room, type, data)` does from SQL. Sockets subscribed to `room:<name>` get it.',
      security: agentSecurity,
      requestParams: { path: Params },
      requestBody: { required: true, content: { 'application/json': { schema: Body } } },
      responses: { 202: json('Published.', Published), ...errors(400, 401, 404, 413, 415, 429, 503) },
    },
  },
};

/**
 * POST /api/rooms/<name>/events/ {"type", "data"}: 202 {"id": "<event id>"}. The
 * organization is the caller's. What deskwire.publish() does from SQL, plus the
 * wait for the id.
 */
export function roomRoutes(
  router: Router<AuthState>,
  sql: Sql,
  opts: { maxBodyBytes: number; maxEventBytes: number },
  limit: Koa.Middleware<AuthState>,
  numbered: Numbered,
): void {
  const json = koaBody({ json: true, urlencoded: false, multipart: false, text: false, jsonLimit: opts.maxBodyBytes });
  router.post(routePaths(path), limit, json, async (ctx) => {
    const { name } = validate(Params, ctx.params, 'path');
    if (hasNoBody(ctx)) throw new BadRequest('invalid_body', 'the body is empty: send {"type": "<event>", "data": <any JSON>}');
    if (!ctx.is('json')) throw new UnsupportedMediaType('send application/json');
    const { type, data } = validate(Body, ctx.request.body, 'body');
    const text = JSON.stringify(data);
    if (Buffer.byteLength(text) > opts.maxEventBytes) {
      throw new PayloadTooLarge(`data is larger than ${opts.maxEventBytes} bytes as JSON (MAX_EVENT_BYTES)`);
    }
    const organization = ctx.state.principal.organization;
    // Waiting before the insert: the event can come back before the insert's answer does.
    const ref = randomUUID();
    const id = numbered.wait(ref, numberWaitMs);
    try {
      await sql`
        INSERT INTO room_events (id, organization, room, type, data)
        VALUES (${ref}, ${organization}, ${name}, ${type}, ${text}::text::jsonb)`;
    } catch (err) {
      id.cancel();
      if ((err as { code?: string }).code === '23503') throw new NotFound(`organization ${organization} does not exist`);
      throw err;
    }
    const position = await id.position;
    ctx.status = 202;
    ctx.body = { id: position === null ? null : String(position) };
  });
}
