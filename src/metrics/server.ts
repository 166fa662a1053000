import { createServer, type Server } from 'node:http';
import type { Context, Middleware } from 'koa';
import { metrics, registry } from './registry.ts';
import { type ReadyState, readyAnswer } from '../ops/readiness.ts';

/**
 * GET /metrics (Prometheus text) on a port of its own, away from the API's traffic,
 * and GET /readyz: this port is up from the first moment, so it answers "starting"
 * while the REST port is not open yet.
 */
export async function serveMetrics(
  host: string,
  port: number,
  ready: () => ReadyState,
  // WORKERS > 1: the primary's text, summed over its workers (src/ops/primary.ts).
  text: () => Promise<string> = () => registry.metrics(),
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = req.url?.split('?')[0];
    if (req.method === 'GET' && path === '/readyz') {
      const { status, body } = readyAnswer(ready());
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"GET /metrics or /readyz"}}');
      return;
    }
    text().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      // A worker that did not answer the primary in time, or the database's lag query.
      (err: Error) => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unavailable', message: `metrics: ${err.message}` } })),
    );
  });
  await new Promise<void>((resolve, reject) => server.listen(port, host, resolve).once('error', reject));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Names the route a middleware outside the router served (the console, the reference
 * page's files), as a template: the label httpMetrics gives it.
 */
export function servedAs(ctx: Context, template: string): void {
  (ctx.state as { route?: string }).route = template;
}

/** Times each REST request under its route's template (never the raw path: ids would make a series each). */
export const httpMetrics: Middleware = async (ctx, next) => {
  const started = process.hrtime.bigint();
  try {
    await next();
  } finally {
    const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? (ctx.state as { route?: string }).route ?? 'unmatched';
    metrics.httpDuration.observe({ method: ctx.method, route: String(route), status: String(ctx.status) }, Number(process.hrtime.bigint() - started) / 1e9);
  }
};
