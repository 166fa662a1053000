import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { send } from '@koa/send';
import type { Middleware } from 'koa';
import type { Sql } from 'postgres';
import { NotFound } from '../errors.ts';
import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import type { AuthState } from './auth.ts';
import { errors } from './openapi/entities.ts';
import { agentSecurity } from './openapi/paths.ts';

/** Where koa-body writes uploads in flight: inside MEDIA_DIR, so the final move is a rename. */
export const incomingDir = (mediaDir: string) => join(mediaDir, '.incoming');

export async function prepareMediaDir(mediaDir: string): Promise<void> {
  await mkdir(incomingDir(mediaDir), { recursive: true });
}

/** The extension a stored file gets, from its (accepted) declared type; others get none. */
const extensions: Record<string, string> = {
  'image/png': '.png', 'image/jpeg': '.jpg', 'image/gif': '.gif', 'image/webp': '.webp',
  'audio/mpeg': '.mp3', 'audio/ogg': '.ogg', 'audio/wav': '.wav', 'audio/webm': '.weba',
  'video/mp4': '.mp4', 'video/webm': '.webm', 'application/pdf': '.pdf', 'text/plain': '.txt',
};

/**
 * Moves an upload to its final place under a generated name (never the caller's,
 * which could collide or climb out of the folder) and returns that name, the value
 * stored in messages.file. The extension follows the declared type, so the file is
 * later served as that type and nothing else.
 */
export async function keepUpload(mediaDir: string, tempPath: string, mimetype: string): Promise<string> {
  const name = randomUUID() + (extensions[mimetype.toLowerCase().split(';')[0]!.trim()] ?? '');
  await rename(tempPath, join(mediaDir, name));
  return name;
}

export async function discard(mediaDir: string, name: string): Promise<void> {
  await rm(join(mediaDir, name), { force: true });
}

/** Types a browser may show inline; anything else is served as a download. */
const inline = new Set(['.png', '.jpg', '.jpeg', '.gif', '.webp']);
const servable = /^\/media\/((?:[A-Za-z0-9_-][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*)$/;

export const mediaPaths: ZodOpenApiPathsObject = {
  '/media/{file}': {
    get: {
      operationId: 'getMedia',
      tags: ['media'],
      summary: 'A file of a message of the credential\'s organization',
      description: 'The link a Message\'s `file` holds. Images are shown inline, anything else is a download.',
      security: [...agentSecurity, { mediaToken: [] }],
      requestParams: { path: z.object({ file: z.string().meta({ description: 'The name in `messages.file`.' }) }) },
      responses: {
        200: { description: 'The file.', content: { '*/*': { schema: z.string().meta({ format: 'binary' }) } } },
        ...errors(401, 404, 503),
      },
    },
  },
};

/**
 * GET /media/<file>: a file of a message of the caller's organization, from
 * MEDIA_DIR and nowhere else (no dot-files, no `..`). Any other file is a 404,
 * whether or not it exists.
 */
export function mediaFiles(sql: Sql, mediaDir: string): Middleware<AuthState> {
  return async (ctx) => {
    const match = servable.exec(ctx.path);
    if (!match) throw new NotFound('no such file');
    const file = match[1]!;
    const [owned] = await sql`
      SELECT 1 FROM messages m JOIN help_desks d ON d.id = m.help_desk_id
      WHERE m.file = ${file} AND d.organization = ${ctx.state.principal.organization}
      LIMIT 1`;
    if (!owned) throw new NotFound('no such file');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'private, max-age=3600');
    if (!inline.has(extname(file).toLowerCase())) ctx.attachment(undefined, { type: 'attachment' });
    await send(ctx, file, { root: mediaDir, hidden: false, index: false });
  };
}
