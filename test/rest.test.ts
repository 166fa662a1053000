import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
let acme: Desk;

before(async () => {
  server = await startTestServer();
  acme = await createDesk(server.db.sql, 'acme');
});
after(() => server.close());

const isoWithOffset = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function post(body: unknown, org = 'acme') {
  return server.fetch(`/api/send-message/`, {
    org,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('the seed routes', () => {
  test('POST /api/send-message/ (JSON) answers 201 with a Message shaped as the seed', async () => {
    const res = await post({ message: 'teste', help_desk: acme.deskId });
    assert.equal(res.status, 201);
    assert.match(res.headers.get('content-type')!, /application\/json/);
    const m = await res.json();
    assert.deepEqual(Object.keys(m), ['created_at', 'updated_at', 'uuid', 'message', 'file', 'type', 'status', 'help_desk']);
    assert.match(m.created_at, isoWithOffset);
    assert.match(m.updated_at, isoWithOffset);
    assert.match(m.uuid, uuid);
    assert.deepEqual(
      { message: m.message, file: m.file, type: m.type, status: m.status, help_desk: m.help_desk },
      { message: 'teste', file: null, type: 'sent', status: 'sending', help_desk: acme.deskId },
    );
    const [stored] = await server.db.sql`SELECT message, type, status FROM messages WHERE id = ${m.uuid}`;
    assert.deepEqual({ ...stored }, { message: 'teste', type: 'sent', status: 'sending' });
  });

  test('POST accepts a form (urlencoded), as the seed did', async () => {
    const res = await server.fetch(`/api/send-message/`, {
      method: 'POST',
      body: new URLSearchParams({ message: 'from a form', help_desk: acme.deskId }),
    });
    assert.equal(res.status, 201);
    assert.equal((await res.json()).message, 'from a form');
  });

  test('POST multipart with a file stores it under a generated name and serves it at /media/', async () => {
    const form = new FormData();
    form.append('message', 'see attached');
    form.append('help_desk', acme.deskId);
    form.append('file', new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])], { type: 'image/png' }), '../../etc/passwd.png');
    const res = await server.fetch(`/api/send-message/`, { method: 'POST', body: form });
    assert.equal(res.status, 201);
    const m = await res.json();
    assert.match(m.file, /^\/media\/[0-9a-f-]{36}\.png$/);
    assert.equal(m.message, 'see attached');
    const served = await server.fetch(`${m.file}`);
    assert.equal(served.status, 200);
    assert.deepEqual(new Uint8Array(await served.arrayBuffer()), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    assert.equal(served.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(served.headers.get('content-disposition'), null, 'a png may be shown inline');
    assert.deepEqual(await readdir(`${server.mediaDir}/.incoming`), [], 'no upload left in flight');
  });

  test('a file alone is a message; anything but a safe image is served as a download', async () => {
    const form = new FormData();
    form.append('help_desk', acme.deskId);
    // Declared text/plain but named .html: stored and served by its declared type.
    form.append('file', new Blob(['<script>alert(1)</script>'], { type: 'text/plain' }), 'page.html');
    const res = await server.fetch(`/api/send-message/`, { method: 'POST', body: form });
    assert.equal(res.status, 201);
    const m = await res.json();
    assert.equal(m.message, null);
    assert.match(m.file, /^\/media\/[0-9a-f-]{36}\.txt$/);
    const served = await server.fetch(`${m.file}`);
    assert.equal(served.status, 200);
    assert.match(served.headers.get('content-type')!, /^text\/plain/);
    assert.match(served.headers.get('content-disposition')!, /^attachment/);
    assert.equal(served.headers.get('x-content-type-options'), 'nosniff');
  });

  test('GET /api/help-desks/?organization= lists the desks newest first, shaped as the seed', async () => {
    const older = await createDesk(server.db.sql, 'listing', { name: 'Older', phone: '1' });
    const newer = await createDesk(server.db.sql, 'listing', { name: 'Newer', phone: '2' });
    await server.db.sql`INSERT INTO messages (help_desk_id, message, type) VALUES (${older.deskId}, 'Oi', 'received')`;
    const res = await server.fetch(`/api/help-desks/?organization=listing`, { org: 'listing' });
    assert.equal(res.status, 200);
    const list = await res.json();
    assert.deepEqual(list.map((d: any) => d.uuid), [newer.deskId, older.deskId]);
    const [n, o] = list;
    assert.deepEqual(Object.keys(o), ['created_at', 'updated_at', 'uuid', 'client', 'assignee', 'last_message']);
    assert.equal(o.assignee, null, 'nobody, until assigned');
    assert.deepEqual(Object.keys(o.client), ['uuid', 'created_at', 'updated_at', 'name', 'phone']);
    assert.deepEqual({ name: o.client.name, phone: o.client.phone, uuid: o.client.uuid }, { name: 'Older', phone: '1', uuid: older.clientId });
    assert.match(o.client.created_at, isoWithOffset);
    assert.equal(o.last_message.message, 'Oi');
    assert.equal(o.last_message.type, 'received');
    assert.equal(o.last_message.help_desk, older.deskId);
    assert.deepEqual(n.last_message, {}, 'a desk with no message has last_message {}');
  });

  test('an organization with no desks lists []', async () => {
    const res = await server.fetch(`/api/help-desks/?organization=nobody`, { org: 'nobody' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), []);
  });

  test('GET /api/help-desks/<uuid>/history/ lists the messages newest first', async () => {
    const desk = await createDesk(server.db.sql, 'history');
    for (const text of ['one', 'two', 'three']) {
      assert.equal((await post({ message: text, help_desk: desk.deskId }, 'history')).status, 201);
    }
    const res = await server.fetch(`/api/help-desks/${desk.deskId}/history/`, { org: 'history' });
    assert.equal(res.status, 200);
    const list = await res.json();
    assert.deepEqual(list.map((m: any) => m.message), ['three', 'two', 'one']);
    // messages written in one transaction still come out in write order
    await server.db.sql`INSERT INTO messages (help_desk_id, message) SELECT ${desk.deskId}, 'batch ' || i FROM generate_series(1, 3) i`;
    const again = await (await server.fetch(`/api/help-desks/${desk.deskId}/history`, { org: 'history' })).json();
    assert.deepEqual(again.slice(0, 3).map((m: any) => m.message), ['batch 3', 'batch 2', 'batch 1']);
  });

  test('the reads give back any text as written: accents, emoji, and a history larger than one socket read', async () => {
    // The list and history answers go from PostgreSQL's bytes to the socket undecoded.
    const desk = await createDesk(server.db.sql, 'utf8', { name: 'João Ünïcode 🙂', phone: '+55' });
    const long = 'ção 👋 '.repeat(12_000); // ~130 KB of UTF-8: the answer spans many reads
    for (const text of ['Olá, tudo bem? 你好', long]) {
      assert.equal((await post({ message: text, help_desk: desk.deskId }, 'utf8')).status, 201);
    }
    const history = await server.fetch(`/api/help-desks/${desk.deskId}/history/`, { org: 'utf8' });
    assert.match(history.headers.get('content-type')!, /^application\/json; charset=utf-8$/);
    assert.deepEqual((await history.json()).map((m: any) => m.message), [long, 'Olá, tudo bem? 你好']);
    const list = await (await server.fetch(`/api/help-desks/?organization=utf8`, { org: 'utf8' })).json();
    assert.equal(list[0].client.name, 'João Ünïcode 🙂');
    assert.equal(list[0].last_message.message, long);
  });

  test('an empty desk has an empty history', async () => {
    const desk = await createDesk(server.db.sql, 'history');
    const res = await server.fetch(`/api/help-desks/${desk.deskId}/history/`, { org: 'history' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), []);
  });

  test('timestamps are UTC whatever the writer session\'s time zone', async () => {
    const [row] = await server.db.sql.begin(async (tx) => {
      await tx`SET LOCAL TimeZone = 'America/Sao_Paulo'`;
      return tx`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'tz') RETURNING deskwire.message_json(messages) AS m, created_at`;
    });
    const message = JSON.parse(row!.m);
    assert.match(message.created_at, isoWithOffset);
    assert.equal(new Date(message.created_at).getTime(), Math.floor(row!.created_at.getTime()));
  });

  test('GET /healthz answers 200 while the database answers', async () => {
    const res = await server.fetch(`/healthz`, { org: null });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });
});

describe('history pages (keyset)', () => {
  let desk: Desk;
  let ids: string[]; // oldest first
  before(async () => {
    desk = await createDesk(server.db.sql, 'pages');
    const rows = await server.db.sql`
      INSERT INTO messages (help_desk_id, message) SELECT ${desk.deskId}, 'p' || i FROM generate_series(1, 10) i RETURNING id`;
    ids = rows.map((r) => r.id);
  });
  const page = async (query: string) => {
    const res = await server.fetch(`/api/help-desks/${desk.deskId}/history/?${query}`, { org: 'pages' });
    assert.equal(res.status, 200);
    return (await res.json()).map((m: any) => m.message);
  };

  test('?limit= gives the newest; ?before= pages back; ?after= fills forward; all newest first', async () => {
    assert.deepEqual(await page('limit=3'), ['p10', 'p9', 'p8']);
    assert.deepEqual(await page(`before=${ids[7]}&limit=3`), ['p7', 'p6', 'p5']);
    assert.deepEqual(await page(`before=${ids[1]}&limit=3`), ['p1']);
    assert.deepEqual(await page(`after=${ids[2]}&limit=3`), ['p6', 'p5', 'p4']);
    assert.deepEqual(await page(`after=${ids[2]}&before=${ids[5]}`), ['p5', 'p4']);
    assert.equal((await page('')).length, 10, 'no parameter: the whole history, as the seed');
  });

  test('an anchor that is not a message of this desk is a 400', async () => {
    const res = await server.fetch(`/api/help-desks/${desk.deskId}/history/?before=${acme.deskId}`, { org: 'pages' });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.code, 'invalid_query');
    const bad = await server.fetch(`/api/help-desks/${desk.deskId}/history/?limit=0`, { org: 'pages' });
    assert.equal(bad.status, 400);
  });
});
