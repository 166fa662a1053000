import { rm } from 'node:fs/promises';
import Router from '@koa/router';
import type { File } from 'formidable';
import { koaBody } from 'koa-body';
import type { Sql } from 'postgres';
import { z } from 'zod';
import { BadRequest, NotFound, PayloadTooLarge } from '../errors.ts';
import { discard, incomingDir, keepUpload } from '../media.ts';
import { validate } from '../validate.ts';

export interface SendMessageOptions {
  mediaDir: string;
  maxBodyBytes: number;
  maxUploadBytes: number;
}

const Body = z.object({
  help_desk: z.guid('must be a UUID'),
  // An empty message is no message, as in a form left blank.
  message: z
    .string()
    .nullish()
    .transform((m) => (m === '' ? null : (m ?? null))),
  // Files come as multipart parts, never as a string in the body.
  file: z.union([z.null(), z.literal('')]).optional(),
});

/** POST /api/send-message/: JSON, urlencoded or multipart; 201 with the Message. */
export function sendMessageRoutes(sql: Sql, opts: SendMessageOptions): Router {
  const router = new Router();
  const body = koaBody({
    multipart: true,
    jsonLimit: opts.maxBodyBytes,
    formLimit: opts.maxBodyBytes,
    textLimit: opts.maxBodyBytes,
    text: false,
    formidable: {
      uploadDir: incomingDir(opts.mediaDir),
      maxFileSize: opts.maxUploadBytes,
      maxTotalFileSize: opts.maxUploadBytes,
      maxFiles: 1,
      maxFields: 20,
      maxFieldsSize: opts.maxBodyBytes,
    },
  });

  router.post(['/api/send-message', '/api/send-message/'], body, async (ctx) => {
    const files = ctx.request.files ?? {};
    const uploads = Object.entries(files).flatMap(([field, f]) => (Array.isArray(f) ? f : [f]).map((file) => ({ field, file })));
    try {
      if (!ctx.is('json', 'urlencoded', 'multipart')) {
        throw new BadRequest('unsupported_media_type', 'send application/json, a form, or multipart/form-data');
      }
      const input = validate(Body, ctx.request.body ?? {}, 'body');
      if (uploads.some((u) => u.field !== 'file')) throw new BadRequest('invalid_body', 'the only file part allowed is "file"');
      const upload: File | undefined = uploads[0]?.file;
      if (upload && upload.size > opts.maxUploadBytes) throw new PayloadTooLarge('file is too large');
      if (input.message === null && !upload) throw new BadRequest('invalid_body', 'message or file is required');

      const file = upload ? await keepUpload(opts.mediaDir, upload.filepath, upload.originalFilename) : null;
      const row = await sql`
        INSERT INTO messages (help_desk_id, message, file, type, status)
        SELECT d.id, ${input.message}, ${file}, 'sent', 'sending' FROM help_desks d WHERE d.id = ${input.help_desk}
        RETURNING deskwire.message_json(messages)::text AS body`.then(
        ([r]) => r,
        async (err) => {
          if (file) await discard(opts.mediaDir, file);
          throw err;
        },
      );
      if (!row) {
        if (file) await discard(opts.mediaDir, file);
        throw new NotFound(`help desk ${input.help_desk} does not exist`);
      }
      ctx.status = 201;
      ctx.type = 'application/json';
      ctx.body = row.body;
    } finally {
      // Whatever was not kept (a refused request, an extra part) leaves no trace.
      await Promise.all(uploads.map((u) => rm(u.file.filepath, { force: true })));
    }
  });

  return router;
}
