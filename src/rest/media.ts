import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { send } from '@koa/send';
import type { Middleware } from 'koa';

/** Where koa-body writes uploads in flight: inside MEDIA_DIR, so the final move is a rename. */
export const incomingDir = (mediaDir: string) => join(mediaDir, '.incoming');

export async function prepareMediaDir(mediaDir: string): Promise<void> {
  await mkdir(incomingDir(mediaDir), { recursive: true });
}

/**
 * Moves an upload to its final place under a generated name (never the caller's,
 * which could collide or climb out of the folder) and returns that name, the value
 * stored in messages.file. Only a short alphanumeric extension is kept.
 */
export async function keepUpload(mediaDir: string, tempPath: string, originalName: string | null): Promise<string> {
  const ext = extname(originalName ?? '').toLowerCase();
  const name = randomUUID() + (/^\.[a-z0-9]{1,10}$/.test(ext) ? ext : '');
  await rename(tempPath, join(mediaDir, name));
  return name;
}

export async function discard(mediaDir: string, name: string): Promise<void> {
  await rm(join(mediaDir, name), { force: true });
}

/** Types a browser may show inline; anything else is served as a download. */
const inline = new Set(['.png', '.jpg', '.jpeg', '.gif', '.webp']);
const servable = /^\/media\/((?:[A-Za-z0-9_-][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*)$/;

/** GET /media/<file>: uploaded files, nothing outside MEDIA_DIR, no dot-files. */
export function serveMedia(mediaDir: string): Middleware {
  return async (ctx, next) => {
    if (!ctx.path.startsWith('/media/')) return next();
    const match = servable.exec(ctx.path);
    if (!match || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (!inline.has(extname(match[1]!).toLowerCase())) ctx.attachment(undefined, { type: 'attachment' });
    await send(ctx, match[1]!, { root: mediaDir, hidden: false, index: false });
  };
}
