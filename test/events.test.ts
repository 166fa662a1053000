import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { connect, type Frame, type TestSocket, upgradeRequest } from './helpers/socket.ts';
import { waitFor } from './helpers/wait.ts';

let server: TestServer;
let acme: Desk;
let globex: Desk;

before(async () => {
  server = await startTestServer();
  acme = await createDesk(server.db.sql, 'acme');
  globex = await createDesk(server.db.sql, 'globex');
});
after(() => server.close());

const data = (f: Frame) => JSON.parse(f.data) as Record<string, any>;
const ofType = (type: string, uuid?: string) => (f: Frame) => f.type === type && (!uuid || data(f).uuid === uuid);

async function history(deskId: string, org = 'acme'): Promise<any[]> {
  const res = await server.fetch(`/api/help-desks/${deskId}/history/`, { org });
  assert.equal(res.status, 200);
  return res.json();
}
async function desks(organization: string): Promise<any[]> {
  const res = await server.fetch(`/api/help-desks/?organization=${organization}`, { org: organization });
  assert.equal(res.status, 200);
  return res.json();
}

describe('a row written with plain SQL', () => {
  let agentA: TestSocket;
  let agentA2: TestSocket;
  let agentB: TestSocket;
  before(async () => {
    agentA = await server.socket('acme');
    agentA2 = await server.socket('acme', '/ws/chat/acme');
    agentB = await server.socket('globex');
  });
  after(async () => {
    await Promise.all([agentA.close(), agentA2.close(), agentB.close()]);
  });

  test('reaches every socket of its organization as the seed frame, equal to the REST object', async () => {
    const [row] = await server.db.sql`
      INSERT INTO messages (help_desk_id, message, type) VALUES (${acme.deskId}, 'Oi', 'received') RETURNING id`;
    const frame = await agentA.next(ofType('new_message', row!.id));
    const frame2 = await agentA2.next(ofType('new_message', row!.id));
    assert.deepEqual(Object.keys(frame).sort(), ['data', 'id', 'type']);
    assert.equal(typeof frame.data, 'string', 'data is a JSON string, as the seed sent it');
    assert.match(String(frame.id), /^\d+$/, 'id: the position to resume from, as a string');
    assert.deepEqual(frame2, frame);
    const [rest] = await history(acme.deskId);
    assert.deepEqual(data(frame), rest);
    assert.equal(rest.message, 'Oi');
    assert.equal(rest.type, 'received');
    assert.equal(rest.status, 'sending');
  });

  test('updates the desk in every agent list: update_helpdesk with the new last_message', async () => {
    const [row] = await server.db.sql`
      INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'second') RETURNING id`;
    const frame = await agentA.next((f) => f.type === 'update_helpdesk' && data(f).last_message.uuid === row!.id);
    const [listed] = await desks('acme');
    assert.deepEqual(data(frame), listed);
    assert.equal(listed.last_message.message, 'second');
  });

  test('reaches no socket of another organization', async () => {
    await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'only for acme')`;
    await agentA.next((f) => f.type === 'new_message' && data(f).message === 'only for acme');
    const leaked = await agentB.quiet(200);
    assert.deepEqual(leaked.filter((f) => f.data.includes('only for acme')), []);
    assert.ok(agentB.frames.every((f) => !f.data.includes(acme.deskId)), 'globex never sees an acme desk');
  });

  test('an update sends update_message equal to the REST object, and the desk when it is the last message', async () => {
    const [row] = await server.db.sql`
      INSERT INTO messages (help_desk_id, message) VALUES (${globex.deskId}, 'will be read') RETURNING id`;
    await agentB.next(ofType('new_message', row!.id));
    await server.db.sql`UPDATE messages SET status = 'read' WHERE id = ${row!.id}`;
    const updated = await agentB.next(ofType('update_message', row!.id));
    assert.equal(data(updated).status, 'read');
    assert.ok(data(updated).updated_at > data(updated).created_at, 'updated_at is kept by the database');
    assert.deepEqual(data(updated), (await history(globex.deskId, 'globex'))[0]);
    const desk = await agentB.next((f) => f.type === 'update_helpdesk' && data(f).last_message.status === 'read');
    assert.deepEqual(data(desk), (await desks('globex'))[0]);
  });

  test('a new help desk and a renamed client send update_helpdesk', async () => {
    const fresh = await createDesk(server.db.sql, 'acme', { name: 'Bia', phone: '9' });
    const created = await agentA.next(ofType('update_helpdesk', fresh.deskId));
    assert.deepEqual(data(created).last_message, {});
    await server.db.sql`UPDATE clients SET name = 'Beatriz' WHERE id = ${fresh.clientId}`;
    const renamed = await agentA.next((f) => f.type === 'update_helpdesk' && data(f).client.name === 'Beatriz');
    assert.equal(data(renamed).uuid, fresh.deskId);
  });

  test('deleting the last message sends the desk with its new last_message', async () => {
    const fresh = await createDesk(server.db.sql, 'acme');
    const [first] = await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${fresh.deskId}, 'first') RETURNING id`;
    const [second] = await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${fresh.deskId}, 'oops') RETURNING id`;
    await agentA.next(ofType('new_message', second!.id));
    await server.db.sql`DELETE FROM messages WHERE id = ${second!.id}`;
    const desk = await agentA.next((f) => f.type === 'update_helpdesk' && data(f).uuid === fresh.deskId && data(f).last_message.uuid === first!.id);
    assert.equal(data(desk).last_message.message, 'first');
  });

  test('a 60 KB message commits and arrives whole, on the socket and over REST', async () => {
    const text = 'ã'.repeat(15_000) + 'x'.repeat(30_000); // 60,000 bytes of UTF-8
    const [row] = await server.db.sql`
      INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, ${text}) RETURNING id`;
    const frame = await agentA.next(ofType('new_message', row!.id));
    assert.equal(data(frame).message, text);
    const desk = await agentA.next((f) => f.type === 'update_helpdesk' && data(f).last_message.uuid === row!.id);
    assert.equal(data(desk).last_message.message, text);
    assert.deepEqual(data(frame), (await history(acme.deskId))[0]);
  });

  test('one statement writing many rows across organizations sends each event once, in order', async () => {
    const before = agentA.frames.length;
    await server.db.sql`
      INSERT INTO messages (help_desk_id, message)
      SELECT d, 'bulk ' || i FROM generate_series(1, 150) i, unnest(${[acme.deskId, globex.deskId]}::uuid[]) d`;
    const bulkA = async (s: TestSocket) => {
      await waitFor(() => s.frames.filter((f) => f.type === 'new_message' && data(f).message.startsWith('bulk ')).length >= 150, 15_000, '150 bulk messages on a socket');
      return s.frames.filter((f) => f.type === 'new_message' && data(f).message.startsWith('bulk ')).map((f) => data(f).message);
    };
    const expected = Array.from({ length: 150 }, (_, i) => `bulk ${i + 1}`);
    assert.deepEqual(await bulkA(agentA), expected);
    assert.deepEqual(await bulkA(agentB), expected);
    const extra = await agentA.quiet(100);
    assert.equal(extra.filter((f) => f.type === 'new_message').length, 0);
    // and the desk's last_message event follows the messages: one, not one per row
    const after = agentA.frames.slice(before);
    assert.equal(after.at(-1)!.type, 'update_helpdesk');
    assert.equal(data(after.at(-1)!).last_message.message, 'bulk 150');
    const deskEvents = after.filter((f) => f.type === 'update_helpdesk').length;
    assert.ok(deskEvents < 10, `${deskEvents} desk events for 150 messages in one statement`);
  });

  test('a rolled-back write sends nothing', async () => {
    await server.db.sql
      .begin(async (tx) => {
        await tx`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'never happened')`;
        throw new Error('rollback');
      })
      .catch(() => {});
    await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'after rollback')`;
    await agentA.next((f) => f.type === 'new_message' && data(f).message === 'after rollback');
    assert.ok(agentA.frames.every((f) => !f.data.includes('never happened')));
  });
});

describe('the socket', () => {
  test('frames sent by a client are never relayed to other clients', async () => {
    const sender = await server.socket('acme');
    const listener = await server.socket('acme');
    const forged = JSON.stringify({ type: 'new_message', data: JSON.stringify({ message: 'forged' }) });
    sender.raw.send(forged);
    sender.raw.send('not even json');
    assert.deepEqual(await listener.quiet(300), []);
    // The sender is told, and only the sender.
    assert.deepEqual(sender.frames.map((f) => [f.type, f.code]), [['error', 'invalid_frame'], ['error', 'invalid_frame']]);
    await Promise.all([sender.close(), listener.close()]);
  });

  test('an oversize client frame closes that socket only', async () => {
    const noisy = await server.socket('acme');
    const calm = await server.socket('acme');
    const closed = new Promise<number>((resolve) => noisy.raw.once('close', (code) => resolve(code)));
    noisy.raw.send('x'.repeat(64 * 1024));
    // uWS drops the connection outright (1006) rather than negotiate a close.
    assert.ok([1006, 1009].includes(await closed));
    await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'still here')`;
    await calm.next((f) => f.type === 'new_message' && data(f).message === 'still here');
    await calm.close();
  });

  for (const [path, status] of [
    ['/ws/chat/bad%20name/', 400],
    ['/ws/chat/' + 'a'.repeat(65) + '/', 400],
    ['/ws/chat/', 404],
    ['/ws/other/acme/', 404],
  ] as const) {
    test(`refuses ${path.slice(0, 30)} with ${status} and a JSON error`, async () => {
      const res = await upgradeRequest(`${server.ws.replace('ws:', 'http:')}${path}`);
      assert.equal(res.status, status);
      assert.equal(typeof JSON.parse(res.body).error.code, 'string');
      await assert.rejects(connect(`${server.ws}${path}`), new RegExp(`upgrade refused: ${status}`));
    });
  }
});

