// Assignment (CONTRACT §9): help_desks.assignee, "assignee" in every HelpDesk, PATCH,
// and a plain SQL UPDATE doing the same.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
let acme: Desk;
let globex: Desk;

before(async () => {
  server = await startTestServer();
  acme = await createDesk(server.db.sql, 'acme');
  globex = await createDesk(server.db.sql, 'globex');
});
after(() => server.close());

const patch = (desk: string, body: string, org = 'acme', type = 'application/json') =>
  server.fetch(`/api/help-desks/${desk}/`, { org, method: 'PATCH', headers: { 'content-type': type }, body });

async function refused(res: Response, status: number): Promise<string> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text).error.code;
}

test('PATCH assigns and unassigns; the answer, the list and the socket show it', async () => {
  const socket = await server.socket('acme');
  const res = await patch(acme.deskId, JSON.stringify({ assignee: 'alice' }));
  assert.equal(res.status, 200);
  const desk = await res.json();
  assert.equal(desk.uuid, acme.deskId);
  assert.equal(desk.assignee, 'alice');
  assert.deepEqual(Object.keys(desk), ['created_at', 'updated_at', 'uuid', 'client', 'assignee', 'last_message']);
  const event = await socket.next((f) => f.type === 'update_helpdesk' && JSON.parse(f.data).assignee === 'alice');
  assert.deepEqual(JSON.parse(event.data), desk, 'the event carries the same desk as the answer');
  const listed = await (await server.fetch('/api/help-desks/')).json();
  assert.equal(listed.find((d: any) => d.uuid === acme.deskId).assignee, 'alice');

  const cleared = await patch(acme.deskId, JSON.stringify({ assignee: null }));
  assert.equal((await cleared.json()).assignee, null);
  await socket.next((f) => f.type === 'update_helpdesk' && JSON.parse(f.data).assignee === null);
  await socket.close();
});

test('a plain SQL UPDATE assigns as PATCH does, event included', async () => {
  const socket = await server.socket('acme');
  const psql = postgres(server.db.url, { max: 1, onnotice: () => {} });
  try {
    await psql`UPDATE help_desks SET assignee = 'bob' WHERE id = ${acme.deskId}`;
  } finally {
    await psql.end();
  }
  const event = await socket.next((f) => f.type === 'update_helpdesk' && JSON.parse(f.data).assignee === 'bob');
  assert.equal(JSON.parse(event.data).uuid, acme.deskId);
  await socket.close();
});

test("another organization's desk, or an unknown one, is a 404 and stays as it was", async () => {
  assert.equal(await refused(await patch(globex.deskId, '{"assignee": "mallory"}'), 404), 'not_found');
  assert.equal(await refused(await patch('00000000-0000-0000-0000-000000000000', '{"assignee": "x"}'), 404), 'not_found');
  const [row] = await server.db.sql`SELECT assignee FROM help_desks WHERE id = ${globex.deskId}`;
  assert.equal(row!.assignee, null);
});

test('bad bodies are 400s (415 for another type) and change nothing', async () => {
  await server.db.sql`UPDATE help_desks SET assignee = 'carol' WHERE id = ${acme.deskId}`;
  for (const [body, code] of [
    ['', 'invalid_body'],
    ['{', 'invalid_json'],
    ['{}', 'invalid_body'],
    ['{"assignee": 42}', 'invalid_body'],
    ['{"assignee": ""}', 'invalid_body'],
    [JSON.stringify({ assignee: 'x'.repeat(257) }), 'invalid_body'],
    ['{"assignee": "a\\u0000b"}', 'invalid_body'],
    ['{"assignee": "dave", "help_desk": "x"}', 'invalid_body'],
    ['[1]', 'invalid_body'],
  ] as const) {
    assert.equal(await refused(await patch(acme.deskId, body), 400), code, body);
  }
  assert.equal(await refused(await patch('not-a-uuid', '{"assignee": "x"}'), 400), 'invalid_path');
  assert.equal(await refused(await patch(acme.deskId, 'assignee=x', 'acme', 'application/x-www-form-urlencoded'), 415), 'unsupported_media_type');
  const [row] = await server.db.sql`SELECT assignee FROM help_desks WHERE id = ${acme.deskId}`;
  assert.equal(row!.assignee, 'carol');
});

test('desks kept in the JSON shape of an older version are rendered again by fill_desk_prefixes (run after sql/ changes)', async () => {
  const old = await createDesk(server.db.sql, 'acme', { name: 'Old shape', phone: '9' });
  await server.db.sql`UPDATE desk_prefixes SET prefix = replace(prefix, ',"assignee":null', '') WHERE desk_id = ${old.deskId}`;
  const [{ n }] = await server.db.sql`SELECT deskwire.fill_desk_prefixes() AS n`;
  assert.equal(Number(n), 1, 'only the prefix that differs is written');
  const listed = await (await server.fetch('/api/help-desks/')).json();
  assert.deepEqual(Object.keys(listed.find((d: any) => d.uuid === old.deskId)), ['created_at', 'updated_at', 'uuid', 'client', 'assignee', 'last_message']);
});
