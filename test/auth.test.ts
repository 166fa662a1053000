import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import postgres from 'postgres';
import WebSocket from 'ws';
import { createKey, revokeKey } from '../src/auth/keys.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, testSecret, type TestServer } from './helpers/server.ts';
import { connect } from './helpers/socket.ts';

let server: TestServer;
let acme: Desk;
let globex: Desk;
let acmeFile: string;

before(async () => {
  server = await startTestServer({
    WRITE_RATE_LIMIT: '3',
    WS_CONNECTIONS_PER_TOKEN: '2',
    ALLOWED_ORIGINS: 'https://app.example.com',
  });
  acme = await createDesk(server.db.sql, 'acme');
  globex = await createDesk(server.db.sql, 'globex');
  const form = new FormData();
  form.append('help_desk', acme.deskId);
  form.append('file', new Blob(['acme secret'], { type: 'text/plain' }), 'secret.txt');
  const res = await server.fetch('/api/send-message/', { method: 'POST', body: form, headers: { authorization: `Bearer ${await server.token('acme', { sub: 'uploader' })}` } });
  acmeFile = (await res.json()).file;
});
after(() => server.close());

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>, { alg = 'HS256', secret = testSecret } = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));

async function refused(res: Response, status: number): Promise<string> {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(typeof body.error.code, 'string');
  return body.error.code;
}
const asBearer = (credential: string, path = '/api/help-desks/', init: RequestInit = {}) =>
  fetch(`${server.rest}${path}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${credential}` } });

describe('a credential that is not one is a 401, on REST and on the socket', () => {
  const cases: Array<[string, () => Promise<string | undefined>]> = [
    ['no credential', async () => undefined],
    ['garbage', async () => 'not-a-token'],
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ org: 'acme', sub: 'x', exp: now() + 60 })}.`],
    ['a forged signature', async () => sign({ org: 'acme', sub: 'x', exp: now() + 60 }, { secret: 'another-secret-that-is-long-enough-to-sign' })],
    ['HS512 with the right key', async () => sign({ org: 'acme', sub: 'x', exp: now() + 60 }, { alg: 'HS512' })],
    ['an expired token', async () => sign({ org: 'acme', sub: 'x', exp: now() - 5 })],
    ['no exp', async () => sign({ org: 'acme', sub: 'x' })],
    ['no org', async () => sign({ sub: 'x', exp: now() + 60 })],
    ['an org that is no organization name', async () => sign({ org: 'a b', sub: 'x', exp: now() + 60 })],
    ['an unknown API key', async () => 'dwk_' + 'A'.repeat(43)],
    ['a huge token', async () => 'x'.repeat(10_000)],
  ];
  for (const [name, make] of cases) {
    test(name, async () => {
      const credential = await make();
      const res = credential === undefined ? await fetch(`${server.rest}/api/help-desks/`) : await asBearer(credential);
      assert.equal(await refused(res, 401), 'unauthorized');
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      const query = credential === undefined ? '' : `?token=${encodeURIComponent(credential)}`;
      await assert.rejects(connect(`${server.ws}/ws/chat/acme/${query}`), /upgrade refused: 401/);
    });
  }

  test('the API does not take ?token= (tokens in URLs end up in logs); media does', async () => {
    const token = await server.token('acme');
    assert.equal(await refused(await fetch(`${server.rest}/api/help-desks/?token=${token}`), 401), 'unauthorized');
    const media = await fetch(`${server.rest}${acmeFile}?token=${token}`);
    assert.equal(media.status, 200);
    assert.equal(await media.text(), 'acme secret');
    assert.equal(await refused(await fetch(`${server.rest}${acmeFile}`), 401), 'unauthorized');
  });

  test('/healthz needs no credential', async () => {
    assert.equal((await fetch(`${server.rest}/healthz`)).status, 200);
  });
});

describe("a token of globex gets nothing of acme's", () => {
  test('listing acme is a 403; no ?organization= lists its own', async () => {
    assert.equal(await refused(await server.fetch('/api/help-desks/?organization=acme', { org: 'globex' }), 403), 'forbidden');
    const own = await (await server.fetch('/api/help-desks/', { org: 'globex' })).json();
    assert.deepEqual(own.map((d: any) => d.uuid), [globex.deskId]);
  });

  test("acme's history is a 404, as if the desk did not exist", async () => {
    const res = await server.fetch(`/api/help-desks/${acme.deskId}/history/`, { org: 'globex' });
    assert.equal(await refused(res, 404), 'not_found');
  });

  test("writing into acme's desk is a 404 and stores nothing", async () => {
    const res = await server.fetch('/api/send-message/', {
      org: 'globex',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ help_desk: acme.deskId, message: 'intrusion' }),
    });
    assert.equal(await refused(res, 404), 'not_found');
    assert.equal((await server.db.sql`SELECT count(*)::int AS n FROM messages WHERE message = 'intrusion'`)[0]!.n, 0);
  });

  test("acme's file is a 404", async () => {
    assert.equal(await refused(await server.fetch(acmeFile, { org: 'globex' }), 404), 'not_found');
  });

  test("acme's socket is a 403, by query token or by header", async () => {
    const token = await server.token('globex');
    await assert.rejects(connect(`${server.ws}/ws/chat/acme/?token=${token}`), /upgrade refused: 403/);
    await assert.rejects(
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`${server.ws}/ws/chat/acme/`, { headers: { authorization: `Bearer ${token}` } });
        ws.once('open', resolve);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      }),
      /upgrade refused: 403/,
    );
  });
});

describe('API keys', () => {
  test('a key works like a token, for its organization only, until revoked', async () => {
    const { id, key } = await createKey(server.db.sql, 'globex', 'zapier');
    const list = await asBearer(key);
    assert.equal(list.status, 200);
    assert.deepEqual((await list.json()).map((d: any) => d.uuid), [globex.deskId]);
    assert.equal(await refused(await asBearer(key, `/api/help-desks/${acme.deskId}/history/`), 404), 'not_found');

    const socket = await connect(`${server.ws}/ws/chat/globex/?token=${key}`);
    await socket.quiet(50);
    assert.equal(socket.raw.readyState, WebSocket.OPEN, 'an accepted socket stays open');
    const closed = new Promise<number>((resolve) => socket.raw.once('close', (code) => resolve(code)));
    assert.ok(await revokeKey(server.db.sql, id));
    assert.equal(await closed, 4003, 'its open socket is closed at once');
    assert.equal(await refused(await asBearer(key), 401), 'unauthorized');
    await assert.rejects(connect(`${server.ws}/ws/chat/globex/?token=${key}`), /upgrade refused: 401/);
  });

  test('any writer revokes: an UPDATE or DELETE of api_keys in plain SQL closes the key\'s sockets (4003)', async () => {
    const closedBy = async (write: (id: string) => Promise<unknown>) => {
      const { id, key } = await createKey(server.db.sql, 'globex', 'revoked by sql');
      const socket = await connect(`${server.ws}/ws/chat/globex/?token=${key}`);
      const other = await server.socket('globex');
      const closed = new Promise<number>((resolve) => socket.raw.once('close', (code) => resolve(code)));
      await write(id);
      const code = await Promise.race([closed, new Promise((r) => setTimeout(r, 3000, 'still open'))]);
      assert.deepEqual(await other.quiet(100), [], 'a socket of another credential is left alone');
      assert.equal(other.raw.readyState, WebSocket.OPEN);
      await other.close();
      return code;
    };
    // A separate connection, as psql or another service would be.
    const psql = postgres(server.db.url, { max: 1, onnotice: () => {} });
    try {
      assert.equal(await closedBy((id) => psql`UPDATE api_keys SET revoked_at = now() WHERE id = ${id}`), 4003);
      assert.equal(await closedBy((id) => psql`DELETE FROM api_keys WHERE id = ${id}`), 4003);
    } finally {
      await psql.end();
    }
  });

  test('only a hash of the key is stored', async () => {
    const { key } = await createKey(server.db.sql, 'acme', 'hash check');
    const rows = await server.db.sql`SELECT * FROM api_keys WHERE name = 'hash check'`;
    assert.ok(!JSON.stringify(rows).includes(key.slice(4)));
  });
});

describe('limits', () => {
  test('REST writes over WRITE_RATE_LIMIT per second are a 429 with Retry-After, per credential', async () => {
    const token = await server.token('acme', { sub: 'fast-writer' });
    const write = (t: string) =>
      asBearer(t, '/api/send-message/', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ help_desk: acme.deskId, message: 'burst' }),
      });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await write(token)).status);
    assert.deepEqual(statuses.slice(0, 3), [201, 201, 201]);
    const limited = await write(token);
    assert.equal(await refused(limited, 429), 'too_many_requests');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    // another agent is not slowed by this one
    assert.equal((await write(await server.token('acme', { sub: 'other-agent' }))).status, 201);
  });

  test('sockets per credential are capped (429)', async () => {
    const token = await server.token('acme', { sub: 'many-tabs' });
    const open = [await connect(`${server.ws}/ws/chat/acme/?token=${token}`), await connect(`${server.ws}/ws/chat/acme/?token=${token}`)];
    await assert.rejects(connect(`${server.ws}/ws/chat/acme/?token=${token}`), /upgrade refused: 429/);
    await Promise.all(open.map((s) => s.close()));
  });

  test('ALLOWED_ORIGINS: a browser socket from another origin is a 403; listed or no origin is fine', async () => {
    const token = await server.token('acme', { sub: 'browser' });
    const open = (origin?: string) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`${server.ws}/ws/chat/acme/?token=${token}`, origin ? { origin } : {});
        ws.once('open', () => resolve(ws));
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      });
    await assert.rejects(open('https://evil.example'), /upgrade refused: 403/);
    const ok = await open('https://app.example.com');
    ok.close();
  });

  test('an address that keeps failing to authenticate gets 429s, even with a good token, on REST and socket', async () => {
    const strict = await startTestServer({ AUTH_FAILURES_PER_MINUTE: '5' });
    try {
      const good = await strict.token('acme');
      assert.equal((await strict.fetch('/api/help-desks/')).status, 200);
      for (let i = 0; i < 5; i++) {
        assert.equal((await fetch(`${strict.rest}/api/help-desks/`, { headers: { authorization: `Bearer dwk_guess${i}` } })).status, 401);
      }
      const blocked = await fetch(`${strict.rest}/api/help-desks/`, { headers: { authorization: `Bearer ${good}` } });
      assert.equal(await refused(blocked, 429), 'too_many_requests');
      assert.ok(Number(blocked.headers.get('retry-after')) > 0);
      await assert.rejects(connect(`${strict.ws}/ws/chat/acme/?token=${good}`), /upgrade refused: 429/);
    } finally {
      await strict.close();
    }
  });

  test('a socket is closed (4001) when its token expires', { timeout: 30_000 }, async () => {
    const token = await server.token('acme', { sub: 'short', ttlSeconds: 2 });
    const socket = await connect(`${server.ws}/ws/chat/acme/?token=${token}`);
    const code = await new Promise<number>((resolve) => socket.raw.once('close', (c) => resolve(c)));
    assert.equal(code, 4001);
  });
});
