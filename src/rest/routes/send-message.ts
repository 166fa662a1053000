import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Router from '@koa/router';
import type Koa from 'koa';
import { koaBody } from 'koa-body';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { BadRequest, NotFound, UnsupportedMediaType } from '../../errors.ts';
import { discard, incomingDir, keepUpload } from '../media.ts';
import { acceptsType } from '../mime.ts';
import type { AuthState } from '../auth.ts';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errors, json, Message } from '../openapi/entities.ts';
import { agentSecurity, routePaths } from '../openapi/paths.ts';
import { hasNoBody, validate } from '../validate.ts';

export interface SendMessageOptions {
  mediaDir: string;
  maxBodyBytes: number;
  maxUploadBytes: number;
  uploadTypes: string[];
}

const Body = z.object({
  help_desk: z.guid('must be a UUID'),
  // An empty message is no message, as in a form left blank.
  message: z
    .string()
    .refine((m) => !m.includes('\u0000'), 'must not contain NUL characters (PostgreSQL text cannot hold them)')
    .nullish()
    .transform((m) => (m === '' ? null : (m ?? null))),
  // Files come as multipart parts, never as a string in the body.
  file: z.union([z.null(), z.literal('')]).optional(),
});

const path = '/api/send-message/';
const Multipart = z.object({
  help_desk: z.guid(),
  message: z.string().optional(),
  file: z.string().meta({ format: 'binary', description: 'One file, of a type UPLOAD_TYPES accepts, up to MAX_UPLOAD_BYTES.' }).optional(),
});

export const sendMessagePaths: ZodOpenApiPathsObject = {
  [path]: {
    post: {
      operationId: 'sendMessage',
      tags: ['messages'],
      summary: 'An agent\'s message to the desk\'s client: text, a file, or both (status sending)',
      description: 'The message is stored `sent`/`sending`; a channel, if the organization has one, delivers it and moves its status on.',
      security: agentSecurity,
      requestBody: {
        required: true,
        content: {
          'application/json': { schema: Body },
          'application/x-www-form-urlencoded': { schema: Body },
          'multipart/form-data': { schema: Multipart },
        },
      },
      responses: { 201: json('The message.', Message), ...errors(400, 401, 404, 413, 415, 429, 503) },
    },
  },
};

/** POST /api/send-message/: JSON, urlencoded or multipart; 201 with the Message. */
export function sendMessageRoutes(router: Router<AuthState>, sql: Sql, opts: SendMessageOptions, limit: Koa.Middleware<AuthState>): void {
  const limits = {
    multipart: true,
    jsonLimit: opts.maxBodyBytes,
    formLimit: opts.maxBodyBytes,
    text: false,
  };
  const formidable = {
    maxFileSize: opts.maxUploadBytes,
    maxTotalFileSize: opts.maxUploadBytes,
    maxFiles: 1,
    maxFields: 20,
    maxFieldsSize: opts.maxBodyBytes,
  };
  // Each multipart request gets a folder of its own for uploads in flight, removed
  // when the request ends: a refused or broken upload leaves nothing behind.
  const plain = koaBody(limits); // built once: koa-body sets up its parsers per instance
  const body: Koa.Middleware = async (ctx, next) => {
    if (!ctx.is('multipart')) return plain(ctx, next);
    const uploadDir = await mkdtemp(join(incomingDir(opts.mediaDir), 'r-'));
    try {
      await koaBody({ ...limits, formidable: { ...formidable, uploadDir } })(ctx, next);
    } finally {
      await rm(uploadDir, { recursive: true, force: true });
    }
  };

  router.post(routePaths(path), limit, body, async (ctx) => {
    if (hasNoBody(ctx)) throw new BadRequest('invalid_body', 'the body is empty: send help_desk and message (or a file)');
    if (!ctx.is('json', 'urlencoded', 'multipart')) {
      throw new UnsupportedMediaType('send application/json, a form, or multipart/form-data');
    }
    const input = validate(Body, ctx.request.body ?? {}, 'body');
    const parts = Object.entries(ctx.request.files ?? {});
    if (parts.some(([field]) => field !== 'file')) throw new BadRequest('invalid_body', 'the only file part allowed is "file"');
    const found = parts[0]?.[1];
    const upload = Array.isArray(found) ? found[0] : found;
    if (input.message === null && !upload) throw new BadRequest('invalid_body', 'message or file is required');
    if (upload && !acceptsType(opts.uploadTypes, upload.mimetype)) {
      throw new UnsupportedMediaType(`file type ${upload.mimetype ?? 'unknown'} is not accepted (accepted: ${opts.uploadTypes.join(', ')})`);
    }

    const file = upload ? await keepUpload(opts.mediaDir, upload.filepath, upload.mimetype!) : null;
    let row;
    try {
      [row] = await sql`
        INSERT INTO messages (help_desk_id, message, file, type, status)
        SELECT d.id, ${input.message}, ${file}, 'sent', 'sending' FROM help_desks d
        WHERE d.id = ${input.help_desk} AND d.organization = ${ctx.state.principal.organization}
        RETURNING deskwire.message_json(messages) AS body`;
    } finally {
      if (file && !row) await discard(opts.mediaDir, file);
    }
    if (!row) throw new NotFound(`help desk ${input.help_desk} does not exist`);
    ctx.status = 201;
    ctx.type = 'application/json';
    ctx.body = row.body;
  });
}
