import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { verify } from '../../channels/signature.ts';
import { organizationName, organizationNameRule, webhookHeaders } from '../../domain.ts';
import { BadRequest, HttpError, NotFound, PayloadTooLarge, UnsupportedMediaType } from '../../errors.ts';
import { type AuthState, rateLimit } from '../auth.ts';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errors, json } from '../openapi/entities.ts';
import { routePaths } from '../openapi/paths.ts';
import { validate } from '../validate.ts';

/** A provider's webhook is small: a text message and a few fields. */
const maxInboundBytes = 65_536;

const Params = z.object({ org: z.string().regex(organizationName, organizationNameRule) });
const text = (max: number) => z.string().min(1).max(max).refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');
const Body = z.discriminatedUnion('event', [
  z.object({
    event: z.literal('message.inbound'),
    external_id: text(256),
    client: z.object({ phone: text(64), name: text(256).optional() }),
    message: text(maxInboundBytes),
  }),
  z.object({
    event: z.literal('message.status'),
    message: z.guid('must be a UUID'),
    status: z.enum(['delivered', 'read', 'failed']),
  }),
]);
const Answer = z.union([
  z.strictObject({ message: z.guid(), created: z.boolean().meta({ description: 'false: this external_id was stored before.' }) }),
  z.strictObject({ message: z.guid(), moved: z.boolean().meta({ description: 'false: the status was already there or past it.' }) }),
]);

const path = '/api/channels/{org}/inbound/';

export const inboundPaths: ZodOpenApiPathsObject = {
  [path]: {
    post: {
      operationId: 'receiveInbound',
      tags: ['channels'],
      summary: 'What the organization\'s provider reports: a client\'s message, or a status',
      description: 'Signed by the provider with the channel\'s secret: `deskwire-timestamp` (unix seconds, within 300 s) and `deskwire-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. No agent credential.',
      security: [{ signature: [] }],
      requestParams: { path: Params },
      requestBody: { required: true, content: { 'application/json': { schema: Body } } },
      responses: { 200: json('Stored, or moved (or already so).', Answer), ...errors(400, 401, 404, 413, 415, 429, 503) },
    },
  },
};

/**
 * POST /api/channels/<org>/inbound/: what the organization's provider reports.
 * No agent credential: the request is signed with the channel's secret, and
 * checked before its body is even parsed. Limited per organization on its own.
 */
export function inboundRoutes(router: Router<AuthState>, sql: Sql, opts: { inboundRateLimit: number }): void {
  const limit = rateLimit(opts.inboundRateLimit, (ctx) => String(ctx.params.org), 'inbound requests per second for this organization');
  router.post(routePaths(path), limit, async (ctx) => {
    const { org } = validate(Params, ctx.params, 'path');
    const [channel] = await sql<{ secret: string }[]>`SELECT secret FROM channels WHERE organization = ${org}`;
    if (!channel) throw new NotFound(`organization ${org} has no channel`);
    const raw = await rawBody(ctx, maxInboundBytes);
    const verdict = verify(channel.secret, ctx.get(webhookHeaders.timestamp) || undefined, ctx.get(webhookHeaders.signature) || undefined, raw);
    if (verdict === 'missing') throw new HttpError('invalid_signature', `${webhookHeaders.timestamp} (unix seconds) and ${webhookHeaders.signature} (v1=<hex>) are required`);
    if (verdict === 'stale') throw new HttpError('stale_timestamp', `${webhookHeaders.timestamp} is more than 300 s from now: sign each request when it is sent`);
    if (verdict === 'forged') throw new HttpError('invalid_signature', 'the signature does not match the body and the channel\'s secret');
    if (!ctx.is('json')) throw new UnsupportedMediaType('send application/json');
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new BadRequest('invalid_json', 'the body is not valid JSON');
    }
    const body = validate(Body, parsed, 'body');
    if (body.event === 'message.inbound') {
      const [r] = await sql<{ message: string; created: boolean }[]>`
        SELECT * FROM deskwire.receive_inbound(${org}, ${body.external_id}, ${body.client.phone}, ${body.client.name ?? ''}, ${body.message})`;
      ctx.body = { message: r!.message, created: r!.created };
    } else {
      const [r] = await sql<{ moved: boolean; known: boolean }[]>`
        SELECT deskwire.advance_status(${org}, ${body.message}, ${body.status}) AS moved,
          EXISTS (SELECT 1 FROM messages m JOIN help_desks h ON h.id = m.help_desk_id
                  WHERE m.id = ${body.message} AND h.organization = ${org} AND m.type = 'sent') AS known`;
      if (!r!.known) throw new NotFound(`organization ${org} has no outgoing message ${body.message}`);
      ctx.body = { message: body.message, moved: r!.moved };
    }
  });
}

/** The body as sent, up to `limit` bytes: the signature is over these bytes. */
async function rawBody(ctx: Context, limit: number): Promise<Buffer> {
  if (Number(ctx.get('content-length') || 0) > limit) throw new PayloadTooLarge(`the body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new PayloadTooLarge(`the body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
