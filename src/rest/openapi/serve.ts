import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type Router from '@koa/router';
import { send } from '@koa/send';
import type { Middleware } from 'koa';
import type { AuthState } from '../auth.ts';
import { servedAs } from '../../metrics/server.ts';
import { apiDocument } from './document.ts';

/** swagger-ui-dist's files, served from the installed package: /docs works offline. */
const uiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const uiFiles = new Set(['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png']);

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>deskwire API</title>
<link rel="icon" href="/docs/ui/favicon-32x32.png">
<link rel="stylesheet" href="/docs/ui/swagger-ui.css">
</head>
<body>
<div id="api"></div>
<script src="/docs/ui/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({ url: '/openapi.json', dom_id: '#api', deepLinking: true, persistAuthorization: true });</script>
</body>
</html>
`;

/** GET /openapi.json and GET /docs, open to all: what the API is, not what it holds. */
export function documentRoutes(router: Router<AuthState>): void {
  router.get('/openapi.json', (ctx) => {
    ctx.type = 'application/json';
    ctx.body = apiDocument();
  });
  router.get('/docs', (ctx) => {
    ctx.type = 'text/html';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = page;
  });
}

/** The reference page's scripts and styles (not API routes): /docs/ui/<file>. */
export const docsAssets: Middleware = async (ctx, next) => {
  if (!ctx.path.startsWith('/docs/ui/') || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
  const file = ctx.path.slice('/docs/ui/'.length);
  if (!uiFiles.has(file)) return next();
  servedAs(ctx, '/docs/ui/{file}');
  ctx.set('Cache-Control', 'public, max-age=86400');
  await send(ctx, file, { root: uiDir });
};
