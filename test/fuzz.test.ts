// A bounded fuzz run: a fixed seed and a fixed number of cases of random and
// malformed paths, headers, bodies, multipart parts, raw bytes and WebSocket frames,
// all as organization acme. Whatever comes back: never a 5xx, never a crash, and
// never a byte of organization globex's data.
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const seed = 20261122;
const httpCases = 600;
const frameCases = 300;
const rawCases = 40;

let server: TestServer;
let acme: Desk;
let globex: Desk;
let acmeToken: string;
const secrets: string[] = [];

/** mulberry32: small, fast, and the same sequence for the same seed. */
function prng(s: number) {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(seed);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const junk = (n: number) => Array.from({ length: n }, () => String.fromCharCode(int(0x2fff) + 1)).join('');
const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));

before(async () => {
  server = await startTestServer({ MAX_BODY_BYTES: '65536', MAX_UPLOAD_BYTES: '65536' });
  acme = await createDesk(server.db.sql, 'acme');
  globex = await createDesk(server.db.sql, 'globex', { name: 'GLOBEX-CLIENT-NAME', phone: '555-GLOBEX' });
  const [m] = await server.db.sql`
    INSERT INTO messages (help_desk_id, message, file) VALUES (${globex.deskId}, 'GLOBEX-SECRET-MESSAGE', 'globex-secret-file.txt') RETURNING id`;
  secrets.push(globex.deskId, globex.clientId, m!.id, 'GLOBEX-SECRET', 'GLOBEX-CLIENT', 'globex-secret-file', '555-GLOBEX');
  acmeToken = await server.token('acme', { sub: 'fuzzer' });
});
after(() => server.close());

/** Fails when an answer holds globex data; what the request itself sent may be echoed back. */
function assertNoSecret(text: string, context: string, sent = '') {
  for (const s of secrets) {
    if (!sent.includes(s)) assert.ok(!text.includes(s), `${context} revealed ${s}: ${text.slice(0, 300)}`);
  }
}

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** Every value put into a request body, so an echo of it is not taken for a leak. */
let sentValues: string[] = [];
const sent = <T>(v: T): T => (sentValues.push(JSON.stringify(v)), v);

function randomPath(): string {
  const uuid = pick([globex.deskId, acme.deskId, crypto.randomUUID(), 'not-a-uuid', '../../etc/passwd', '%00', junk(3), '']);
  const base = pick([
    '/api/help-desks/', `/api/help-desks/${uuid}/history/`, '/api/send-message/', `/media/${pick(['globex-secret-file.txt', '../package.json', '%2e%2e/%2e%2e/etc/passwd', '.incoming/x', encodeURIComponent(junk(4)), uuid])}`,
    '/healthz', '/', `/${encodeURIComponent(junk(5))}`, '/api//help-desks', '/api/help-desks/%ff%fe/history/', '/ws/chat/globex/',
  ]);
  const query = pick([
    '', '?organization=globex', '?organization=acme', '?organization[]=globex', '?organization=globex&organization=acme',
    `?token=${acmeToken}`, `?organization=${encodeURIComponent(junk(8))}`, '?limit=-1&before=' + uuid, `?${encodeURIComponent(junk(6))}=1`,
  ]);
  return base + query;
}

function randomBody(): { body?: BodyInit; type?: string } {
  const field = () => sent(pick([globex.deskId, acme.deskId, null, 42, true, [], {}, 'x'.repeat(int(5000)), junk(int(50)), '\u0000', { $ne: null }]));
  switch (int(7)) {
    case 6:
      return { type: 'application/json', body: JSON.stringify({ help_desk: acme.deskId, message: junk(1 + int(500)) }) };
    case 0:
      return { type: 'application/json', body: JSON.stringify({ help_desk: field(), message: field(), file: field(), [junk(3)]: field() }) };
    case 1:
      return { type: 'application/json', body: pick(['{', '[]', 'null', '"x"', '{"help_desk":', junk(30), '{"a":'.repeat(200)]) };
    case 2: {
      const form = new FormData();
      for (let i = int(6); i > 0; i--) {
        const name = pick(['help_desk', 'message', 'file', 'attachment', junk(4)]);
        if (random() < 0.5) form.append(name, String(field()));
        else form.append(name, new Blob([bytes(int(70_000))], { type: pick(['text/plain', 'image/png', 'text/html', 'application/x-sh', '', junk(5)]) }), pick(['a.txt', '../../../x.png', '', junk(10), '.htaccess']));
      }
      return { body: form };
    }
    case 3:
      return { type: 'application/x-www-form-urlencoded', body: `help_desk=${sent(pick([globex.deskId, acme.deskId, '%ff']))}&message=${encodeURIComponent(junk(20))}&message=2` };
    case 4:
      return { type: pick(['multipart/form-data; boundary=zz', 'multipart/form-data', 'text/plain', 'application/octet-stream', junk(4)]), body: bytes(int(3000)) };
    default:
      return {};
  }
}

test(`${httpCases} random HTTP requests: no 5xx, no data of another organization`, { timeout: 120_000 }, async () => {
  const rssBefore = process.memoryUsage().rss;
  const statuses = new Map<number, number>();
  for (let i = 0; i < httpCases; i++) {
    const method = pick(['GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
    const path = method === 'POST' && random() < 0.5 ? '/api/send-message/' : randomPath();
    const headers = new Headers();
    const auth = pick([`Bearer ${acmeToken}`, `Bearer ${acmeToken}`, '', 'Bearer', `Basic ${acmeToken}`, `Bearer ${junk(20).replace(/[^\x21-\x7e]/g, 'a')}`, `bearer  ${acmeToken}`]);
    if (auth) headers.set('authorization', auth);
    sentValues = [path];
    const { body, type } = method === 'GET' || method === 'HEAD' ? {} : randomBody();
    if (type) headers.set('content-type', type.replace(/[^\x20-\x7e]/g, 'x'));
    if (random() < 0.2) headers.set(pick(['x-forwarded-for', 'origin', 'accept', 'range', 'if-none-match']), pick(['*', 'bytes=0-1', '"x"', 'https://evil.example', '127.0.0.1']));
    const res = await fetch(`${server.rest}${path}`, { method, headers, body });
    const text = await res.text();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    assert.ok(res.status < 500, `${method} ${path} -> ${res.status} ${text.slice(0, 200)}`);
    const echoable = sentValues.join(' ');
    assertNoSecret(text, `${method} ${path}`, echoable + ' ' + safeDecode(echoable));
    if (res.status >= 400 && method !== 'HEAD') assert.equal(typeof JSON.parse(text).error.code, 'string', `${method} ${path}: ${text.slice(0, 100)}`);
  }
  const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.ok(grown < 200, `RSS grew ${grown.toFixed(0)} MiB over the run`);
  assert.ok((statuses.get(201) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0, `the cases reached the handlers: ${JSON.stringify([...statuses])}`);
  assert.equal((await fetch(`${server.rest}/healthz`)).status, 200);
});

test(`${rawCases} raw byte streams at both ports: no crash`, { timeout: 60_000 }, async () => {
  for (let i = 0; i < rawCases; i++) {
    const port = Number(new URL(pick([server.rest, server.ws.replace('ws:', 'http:')])).port);
    const payload = pick([
      () => bytes(int(4096)),
      () => Buffer.from(`GET /ws/chat/acme/?token=${acmeToken} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${junk(5)}\r\nSec-WebSocket-Version: 13\r\n\r\n`),
      () => Buffer.from(`POST /api/send-message/ HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nAuthorization: Bearer ${acmeToken}\r\n\r\n{"a"`),
      () => Buffer.from(`GET /${'a'.repeat(int(100_000))} HTTP/1.1\r\n\r\n`),
      () => Buffer.from(`GET / HTTP/1.1\r\n${'X: y\r\n'.repeat(int(5000))}\r\n`),
    ])();
    await new Promise<void>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1', () => s.end(payload));
      s.on('data', () => {});
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.setTimeout(2000, () => s.destroy());
    });
  }
  assert.equal((await fetch(`${server.rest}/healthz`)).status, 200);
});

test(`${frameCases} random WebSocket frames: never relayed, never a crash, no other organization's event`, { timeout: 60_000 }, async () => {
  const watcher = await server.socket('acme');
  let socket: WebSocket | undefined;
  const open = () =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${server.ws}/ws/chat/acme/?token=${acmeToken}`);
      ws.on('error', () => {});
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_q, r) => reject(new Error(`refused ${r.statusCode}`)));
    });
  for (let i = 0; i < frameCases; i++) {
    if (!socket || socket.readyState !== WebSocket.OPEN) socket = await open();
    const frame = pick([
      () => JSON.stringify({ type: 'new_message', data: JSON.stringify({ message: 'forged', help_desk: globex.deskId }) }),
      () => junk(int(2000)),
      () => bytes(int(6000)),
      () => JSON.stringify({ type: pick(['subscribe', 'join']), organization: 'globex' }),
    ])();
    socket.send(frame);
    if (i % 50 === 0) await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${globex.deskId}, 'GLOBEX-SECRET-LIVE')`;
  }
  socket?.close();
  await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'after the fuzz')`;
  await watcher.next((f) => f.type === 'new_message' && JSON.parse(f.data).message === 'after the fuzz');
  for (const f of watcher.frames) {
    assertNoSecret(JSON.stringify(f), 'a socket frame');
    assert.ok(!String(f.data).includes('forged'), 'a client frame was relayed');
  }
  await watcher.close();
});
