import { z } from 'zod';
import type { ZodOpenApiResponseObject } from 'zod-openapi';
import { type ErrorCode, errorCodes } from '../../errors.ts';

// The JSON deskwire answers with, as zod schemas: the OpenAPI document is made from
// them, and the API's tests check every answer against them. PostgreSQL renders
// these bodies (sql/020_json.sql); nothing parses them on the way out.

const timestamp = z.string().meta({ description: 'ISO 8601, UTC, microseconds: `2026-12-05T10:00:00.123456+00:00`', example: '2026-12-05T10:00:00.123456+00:00' });
const uuid = z.guid();

export const Client = z
  .strictObject({ uuid, created_at: timestamp, updated_at: timestamp, name: z.string().nullable(), phone: z.string().nullable() })
  .meta({ id: 'Client', description: 'The person an organization chats with.' });

export const Message = z
  .strictObject({
    created_at: timestamp,
    updated_at: timestamp,
    uuid,
    message: z.string().nullable(),
    file: z.string().nullable().meta({ description: 'A link to the file: `/media/<name>` (open it with the token), or the URL the row holds.' }),
    type: z.enum(['sent', 'received']).meta({ description: '`sent` by an agent, `received` from the client.' }),
    status: z.enum(['sending', 'sent', 'delivered', 'read', 'failed']),
    help_desk: uuid,
  })
  .meta({ id: 'Message' });

export const HelpDesk = z
  .strictObject({
    created_at: timestamp,
    updated_at: timestamp,
    uuid,
    client: Client,
    assignee: z.string().nullable().meta({ description: 'The agent (token `sub`) the desk is assigned to; null: nobody.' }),
    last_message: z.union([Message, z.strictObject({})]).meta({ description: 'The newest message, or `{}` for a desk without one (as the seed answers).' }),
  })
  .meta({ id: 'HelpDesk', description: 'A conversation with one client.' });

export const ErrorBody = z
  .strictObject({
    error: z.strictObject({
      code: z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]).meta({ description: 'Stable; see docs/errors.md.' }),
      message: z.string().meta({ description: 'For people; may change.' }),
    }),
  })
  .meta({ id: 'Error', description: 'Every 4xx and 5xx, on every route.' });

/** A JSON answer. */
export function json(description: string, schema: z.ZodType): ZodOpenApiResponseObject {
  return { description, content: { 'application/json': { schema } } };
}

const why: Partial<Record<number, string>> = {
  400: 'Bad input: `invalid_query`, `invalid_path`, `invalid_body`, `invalid_json`…',
  401: 'No credential, or one that is not valid (`unauthorized`).',
  403: 'Another organization than the credential\'s (`forbidden`).',
  404: 'Not found, or another organization\'s (`not_found`).',
  413: 'The body or the file is too large (`too_large`).',
  415: 'A content type this route does not take (`unsupported_media_type`).',
  429: 'Over a rate limit (`too_many_requests`); `Retry-After` says when to try again.',
  503: 'The database is unreachable (`unavailable`); try again.',
};

/** The error answers of a route, by status; 401 and 429 come with the credential and the limits. */
export function errors(...statuses: number[]): Record<string, ZodOpenApiResponseObject> {
  return Object.fromEntries(statuses.map((s) => [String(s), json(why[s] ?? 'An error.', ErrorBody)]));
}
