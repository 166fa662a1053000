import type { Middleware } from 'koa';
import { buildConsole } from '../../console/build.ts';
import { servedAs } from '../metrics/server.ts';

export interface ConsoleOptions {
  /** The WebSocket port, once the gateway listens (the bundle is made before). */
  wsPort: () => number;
  /** Embedded demo mode: a token of the demo organization, filled in on the sign-in page. */
  demoToken?: () => Promise<string>;
}

/**
 * The agent console at / (console/), bundled at start: the page is never cached
 * (it names the current bundle), the bundle's hashed files are cached for good.
 */
export async function consoleFiles(opts: ConsoleOptions): Promise<Middleware> {
  const bundle = await buildConsole();
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === '/') {
      servedAs(ctx, '/');
      const config = { wsPort: opts.wsPort(), demoToken: opts.demoToken ? await opts.demoToken() : undefined };
      ctx.type = 'text/html; charset=utf-8';
      ctx.set('Cache-Control', 'no-cache');
      ctx.body = bundle.page.replace('%CONFIG%', JSON.stringify(config).replace(/</g, '\\u003c'));
      return;
    }
    const asset = ctx.path.startsWith('/assets/') ? bundle.assets.get(ctx.path.slice('/assets/'.length)) : undefined;
    if (!asset) return next();
    servedAs(ctx, '/assets/{file}');
    ctx.type = asset.type;
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.body = Buffer.from(asset.body);
  };
}
