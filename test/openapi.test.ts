// The OpenAPI document (GET /openapi.json) against the API itself: every route the
// router has is in it and nothing else is; every answer below, success or error, is
// one the document lists for its route, in the shape it gives. /docs from the
// installed package.
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import type Router from '@koa/router';
import type { z } from 'zod';
import { setChannel } from '../src/channels/admin.ts';
import { createRestApp, type RestOptions } from '../src/rest/app.ts';
import { apiPaths } from '../src/rest/openapi/document.ts';
import { createLogger } from '../src/log.ts';
import { after, before, describe, test } from 'node:test';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
let desk: Desk;

before(async () => {
  server = await startTestServer();
  desk = await createDesk(server.db.sql, 'acme');
  await createDesk(server.db.sql, 'globex');
});
after(() => server.close());

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';
interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
const operation = (method: Method, path: string) => (apiPaths[path] as Record<string, Operation> | undefined)?.[method];

/** The router's routes, as the document writes paths: `:x` and `{*x}` are `{x}`, one trailing slash or none. */
function routerRoutes(): Set<string> {
  const app = createRestApp(server.db.sql, async () => { throw new Error('not called'); }, { mediaDir: '/nonexistent', maxBodyBytes: 1, maxUploadBytes: 1, uploadTypes: [], writeRateLimit: 1, wsPort: 1, maxEventBytes: 1, inboundRateLimit: 1, numbered: {} as RestOptions['numbered'], readiness: { state: () => 'ready' } }, createLogger('silent'));
  const dispatch = app.middleware.find((m) => (m as { router?: Router }).router) as { router: Router } | undefined;
  assert.ok(dispatch, 'the app has a router');
  const routes = new Set<string>();
  for (const layer of dispatch.router.stack) {
    const path = String(layer.path).replace(/:(\w+)/g, '{$1}').replace(/\{\*(\w+)\}/g, '{$1}');
    for (const method of layer.methods) {
      if (method !== 'HEAD') routes.add(`${method.toLowerCase()} ${path.endsWith('/') || !apiPaths[path + '/'] ? path : path + '/'}`);
    }
  }
  return routes;
}

/** Fails unless the answer's status is listed for the route, with its content type, and its JSON matches the schema. */
async function documented(res: Response, method: Method, path: string): Promise<unknown> {
  const op = operation(method, path);
  assert.ok(op, `${method.toUpperCase()} ${path} is in the document`);
  const answer = op.responses?.[String(res.status)];
  assert.ok(answer, `${method.toUpperCase()} ${path} answered ${res.status}, which the document does not list: ${await res.clone().text()}`);
  const type = res.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
  const media = answer.content?.[type] ?? answer.content?.['*/*'];
  assert.ok(media, `${method.toUpperCase()} ${path} ${res.status} answered ${type}, which the document does not list`);
  if (type !== 'application/json') return res.arrayBuffer();
  const body = await res.json();
  const parsed = (media.schema as z.ZodType).safeParse(body);
  assert.ok(parsed.success, `${method.toUpperCase()} ${path} ${res.status}: ${JSON.stringify(body)} is not what the document says: ${parsed.success ? '' : parsed.error.message}`);
  return body;
}

describe('the document', () => {
  test('GET /openapi.json is OpenAPI 3.1, open to all, with every route of the router and no other', async () => {
    const res = await server.fetch('/openapi.json', { org: null });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: Record<string, Record<string, unknown>>; webhooks: Record<string, unknown> };
    assert.equal(doc.openapi, '3.1.0');
    const inDocument = new Set(Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`)));
    const inRouter = routerRoutes();
    assert.deepEqual([...inRouter].filter((r) => !inDocument.has(r)), [], 'routes missing from the document');
    assert.deepEqual([...inDocument].filter((r) => !inRouter.has(r)), [], 'documented routes the router does not have');
    assert.deepEqual(Object.keys(doc.components.securitySchemes!).sort(), ['apiKey', 'jwt', 'mediaToken', 'signature']);
    for (const frame of ['MessageFrame', 'HelpDeskFrame', 'RoomFrame', 'ResyncFrame', 'SubscribedFrame', 'ErrorFrame', 'PongFrame', 'ClientFrame', 'Message', 'HelpDesk', 'Error']) {
      assert.ok(doc.components.schemas![frame], `components.schemas.${frame}`);
    }
    assert.ok(doc.webhooks['message.outbound'], 'the channel delivery, as a webhook');
    const history = doc.paths['/api/help-desks/{uuid}/history/']!.get as { parameters: { name: string; in: string }[]; security: unknown[] };
    assert.deepEqual(history.parameters.map((p) => `${p.in}:${p.name}`).sort(), ['path:uuid', 'query:after', 'query:before', 'query:limit']);
    assert.deepEqual(history.security, [{ jwt: [] }, { apiKey: [] }]);
  });

  test('GET /docs is a reference page whose scripts and styles come from this server', async () => {
    const res = await server.fetch('/docs', { org: null });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    const html = await res.text();
    assert.match(html, /url: '\/openapi\.json'/);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.length >= 3);
    for (const asset of assets) {
      assert.ok(asset.startsWith('/docs/ui/'), `${asset} is served here, not from a CDN`);
      const file = await server.fetch(asset, { org: null });
      assert.equal(file.status, 200, asset);
      assert.ok((await file.arrayBuffer()).byteLength > 100, asset);
    }
    assert.equal((await server.fetch('/docs/ui/../../package.json', { org: null })).status, 404);
    assert.equal((await server.fetch('/docs/ui/index.html', { org: null })).status, 404, 'only the files the page needs');
  });
});

describe('every answer is one the document allows', () => {
  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  test('GET /healthz, /openapi.json, /docs', async () => {
    await documented(await server.fetch('/healthz', { org: null }), 'get', '/healthz');
    await documented(await server.fetch('/readyz', { org: null }), 'get', '/readyz');
    await documented(await server.fetch('/openapi.json', { org: null }), 'get', '/openapi.json');
    await documented(await server.fetch('/docs', { org: null }), 'get', '/docs');
  });

  test('GET /api/help-desks/: 200, 400, 401, 403', async () => {
    const desks = (await documented(await server.fetch('/api/help-desks/'), 'get', '/api/help-desks/')) as unknown[];
    assert.ok(desks.length > 0);
    await documented(await server.fetch('/api/help-desks/?organization=Not%20One'), 'get', '/api/help-desks/');
    await documented(await server.fetch('/api/help-desks/', { org: null }), 'get', '/api/help-desks/');
    await documented(await server.fetch('/api/help-desks/?organization=globex'), 'get', '/api/help-desks/');
  });

  test('GET /api/help-desks/{uuid}/history/: 200 (all, a page), 400, 404', async () => {
    const path = '/api/help-desks/{uuid}/history/';
    await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'one'), (${desk.deskId}, 'two')`;
    const all = (await documented(await server.fetch(`/api/help-desks/${desk.deskId}/history/`), 'get', path)) as unknown[];
    assert.ok(all.length >= 2);
    await documented(await server.fetch(`/api/help-desks/${desk.deskId}/history/?limit=1`), 'get', path);
    await documented(await server.fetch(`/api/help-desks/${desk.deskId}/history/?limit=0`), 'get', path);
    await documented(await server.fetch(`/api/help-desks/not-a-uuid/history/`), 'get', path);
    await documented(await server.fetch(`/api/help-desks/${randomUUID()}/history/`), 'get', path);
  });

  test('PATCH /api/help-desks/{uuid}/: 200, 400, 404, 415', async () => {
    const path = '/api/help-desks/{uuid}/';
    await documented(await server.fetch(`/api/help-desks/${desk.deskId}/`, { method: 'PATCH', ...json({ assignee: 'ana' }) }), 'patch', path);
    await documented(await server.fetch(`/api/help-desks/${desk.deskId}/`, { method: 'PATCH', ...json({ assignee: null }) }), 'patch', path);
    await documented(await server.fetch(`/api/help-desks/${desk.deskId}/`, { method: 'PATCH', ...json({ who: 1 }) }), 'patch', path);
    await documented(await server.fetch(`/api/help-desks/${randomUUID()}/`, { method: 'PATCH', ...json({ assignee: 'ana' }) }), 'patch', path);
    await documented(await server.fetch(`/api/help-desks/${desk.deskId}/`, { method: 'PATCH', headers: { 'content-type': 'text/plain' }, body: 'ana' }), 'patch', path);
  });

  test('POST /api/send-message/ and GET /media/{file}: 201 (text, file), 200, 400, 404, 413, 415', async () => {
    const path = '/api/send-message/';
    const sent = (await documented(await server.fetch(path, { method: 'POST', ...json({ help_desk: desk.deskId, message: 'hi' }) }), 'post', path)) as { file: null };
    assert.equal(sent.file, null);
    const form = new FormData();
    form.append('help_desk', desk.deskId);
    form.append('file', new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])], { type: 'image/png' }), 'a.png');
    const withFile = (await documented(await server.fetch(path, { method: 'POST', body: form }), 'post', path)) as { file: string };
    await documented(await server.fetch(`${withFile.file}`), 'get', '/media/{file}');
    await documented(await server.fetch('/media/nothing.png'), 'get', '/media/{file}');
    await documented(await server.fetch('/media/nothing.png', { org: null }), 'get', '/media/{file}');
    await documented(await server.fetch(path, { method: 'POST', ...json({ help_desk: 'x' }) }), 'post', path);
    await documented(await server.fetch(path, { method: 'POST', ...json({ help_desk: randomUUID(), message: 'x' }) }), 'post', path);
    await documented(await server.fetch(path, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' }), 'post', path);
    await documented(await server.fetch(path, { method: 'POST', ...json({ help_desk: desk.deskId, message: 'x'.repeat(2_000_000) }) }), 'post', path);
  });

  test('POST /api/rooms/{name}/events/: 202, 400, 413', async () => {
    const path = '/api/rooms/{name}/events/';
    const published = (await documented(await server.fetch('/api/rooms/r1/events/', { method: 'POST', ...json({ type: 'x.y', data: { a: 1 } }) }), 'post', path)) as { id: string };
    assert.match(published.id, /^\d+$/);
    await documented(await server.fetch('/api/rooms/r1/events/', { method: 'POST', ...json({ type: 'new_message', data: 1 }) }), 'post', path);
    await documented(await server.fetch('/api/rooms/r1/events/', { method: 'POST', ...json({ type: 'x', data: 'y'.repeat(70_000) }) }), 'post', path);
  });

  test('POST /api/channels/{org}/inbound/: 200 (both events), 400, 401, 404', async () => {
    const path = '/api/channels/{org}/inbound/';
    const { secret } = await setChannel(server.db.sql, 'acme', 'http://127.0.0.1:9/unused');
    const signed = (body: unknown) => {
      const text = JSON.stringify(body);
      const ts = Math.floor(Date.now() / 1000);
      const sig = createHmac('sha256', secret).update(`${ts}.${text}`).digest('hex');
      return { method: 'POST', org: null, headers: { 'content-type': 'application/json', 'deskwire-timestamp': String(ts), 'deskwire-signature': `v1=${sig}` }, body: text };
    };
    const stored = (await documented(await server.fetch('/api/channels/acme/inbound/', signed({ event: 'message.inbound', external_id: 'e1', client: { phone: '+1 555' }, message: 'hello' })), 'post', path)) as { message: string };
    await server.db.sql`INSERT INTO messages (id, help_desk_id, message, status) VALUES (${randomUUID()}, ${desk.deskId}, 'out', 'sent')`;
    const [out] = await server.db.sql`SELECT id FROM messages WHERE help_desk_id = ${desk.deskId} AND type = 'sent' LIMIT 1`;
    await documented(await server.fetch('/api/channels/acme/inbound/', signed({ event: 'message.status', message: out!.id, status: 'read' })), 'post', path);
    assert.ok(stored.message);
    await documented(await server.fetch('/api/channels/acme/inbound/', signed({ event: 'message.other' })), 'post', path);
    await documented(await server.fetch('/api/channels/acme/inbound/', { method: 'POST', org: null, ...json({}) }), 'post', path);
    await documented(await server.fetch('/api/channels/globex/inbound/', signed({})), 'post', path);
  });
});
