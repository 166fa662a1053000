// Topics on the socket (CONTRACT §9): org, desk:<uuid>, inbox, room:<name>; chosen at
// connect or live, each event once per socket, resumes by topic, and every bad frame
// answered without closing the socket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { pruneOnce } from '../src/events/retention.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { connect, type Frame, type TestSocket, upgradeRequest } from './helpers/socket.ts';
import { waitFor } from './helpers/wait.ts';

let server: TestServer;
let d1: Desk;
let d2: Desk;
let globex: Desk;
/** Sees every event of acme, rooms included: what is published is published once it has it. */
let witness: TestSocket;

const rooms = ['payments-42', 'payments-43'];

before(async () => {
  server = await startTestServer({ WS_TOPICS_PER_SOCKET: '4' });
  d1 = await createDesk(server.db.sql, 'acme');
  d2 = await createDesk(server.db.sql, 'acme', { name: 'Outro', phone: '456' });
  globex = await createDesk(server.db.sql, 'globex');
  witness = await open('acme', `topics=org,${rooms.map((r) => `room:${r}`).join(',')}`);
});
after(async () => {
  await witness.close();
  await server.close();
});

const data = (f: Frame) => JSON.parse(f.data);

async function open(org: string, query = '', sub = 'agent'): Promise<TestSocket> {
  const token = await server.token(org, { sub });
  return connect(`${server.ws}/ws/chat/${org}/?token=${token}${query ? `&${query}` : ''}`);
}

async function message(desk: Desk, text: string): Promise<string> {
  const [row] = await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${text}) RETURNING id`;
  return row!.id;
}

async function publish(org: string, room: string, type: string, payload: unknown): Promise<void> {
  await server.db.sql`SELECT deskwire.publish(${org}, ${room}, ${type}, ${JSON.stringify(payload)}::text::jsonb)`;
}

/** Waits until the witness has the acme message `text`: every event before it has been published. */
async function published(text: string): Promise<void> {
  await witness.next((f) => f.type === 'new_message' && data(f).message === text);
}

/** What a socket received, as short labels: messages by text, rooms by room and type, desks by assignee. */
function labels(s: TestSocket, from = 0): string[] {
  return s.frames.slice(from).map((f) => {
    if (f.room !== undefined) return `${f.room}:${f.type}`;
    if (f.type === 'new_message') return data(f).message;
    if (f.type === 'update_helpdesk') return `desk ${data(f).uuid === d1.deskId ? 'd1' : data(f).uuid === d2.deskId ? 'd2' : '?'}`;
    return f.type;
  });
}

describe('each topic delivers its own events and nothing else', () => {
  test('desk:, room: and org across two organizations', async () => {
    const desk = await open('acme', `topics=desk:${d1.deskId}`);
    const room = await open('acme', 'topics=room:payments-42');
    const org = await open('acme');
    const foreignRoom = await open('globex', 'topics=room:payments-42');

    await message(d1, 'one');
    await message(d2, 'two');
    await message(globex, 'globex');
    await publish('acme', 'payments-42', 'payment.updated', { status: 'paid' });
    await publish('acme', 'payments-43', 'payment.updated', { status: 'other room' });
    await publish('globex', 'payments-42', 'payment.updated', { status: 'globex room' });
    await witness.next((f) => f.room === 'payments-43');
    await message(d1, 'end');
    await published('end');
    await foreignRoom.next((f) => f.room === 'payments-42');
    await message(globex, 'globex end');
    await desk.next((f) => f.type === 'new_message' && data(f).message === 'end');
    await org.next((f) => f.type === 'new_message' && data(f).message === 'end');
    await room.next((f) => f.room === 'payments-42');
    // The desk's update_helpdesk comes right after its message, maybe in a later read.
    await waitFor(() => labels(desk).length >= 4, 5000, 'the desk socket\'s update_helpdesk after "end"');

    assert.deepEqual(labels(desk), ['one', 'desk d1', 'end', 'desk d1']);
    assert.deepEqual(labels(room), ['payments-42:payment.updated']);
    assert.deepEqual(labels(org).filter((l) => !l.startsWith('desk')), ['one', 'two', 'end']);
    assert.deepEqual(labels(foreignRoom), ['payments-42:payment.updated']);
    assert.deepEqual(data(foreignRoom.frames[0]!), { status: 'globex room' }, 'globex hears its own room, not acme\'s');

    const frame = room.frames[0]!;
    assert.deepEqual(Object.keys(frame), ['type', 'data', 'id', 'room']);
    assert.equal(typeof frame.data, 'string');
    assert.deepEqual(JSON.parse(frame.data), { status: 'paid' });
    await Promise.all([desk.close(), room.close(), org.close(), foreignRoom.close()]);
  });

  test('a socket on org and on one of its desks gets each event once', async () => {
    const both = await open('acme', `topics=org,desk:${d1.deskId}`);
    await message(d1, 'once');
    await message(d2, 'once too');
    await published('once too');
    await both.next((f) => f.type === 'new_message' && data(f).message === 'once too');
    await message(d1, 'after');
    await both.next((f) => f.type === 'new_message' && data(f).message === 'after');
    assert.deepEqual(labels(both).filter((l) => !l.startsWith('desk')), ['once', 'once too', 'after']);
    const ids = both.frames.map((f) => f.id);
    assert.equal(new Set(ids).size, ids.length, 'no id twice');
    await both.close();
  });

  test('a room event written with plain SQL arrives with its id, and a REST publish answers that id', async () => {
    const room = await open('acme', 'topics=room:payments-42');
    const psql = postgres(server.db.url, { max: 1, onnotice: () => {} });
    try {
      await psql`SELECT deskwire.publish('acme', 'payments-42', 'payment.refunded', '{"amount": 10}')`;
    } finally {
      await psql.end();
    }
    const fromSql = await room.next((f) => f.type === 'payment.refunded');
    assert.deepEqual(JSON.parse(fromSql.data), { amount: 10 });

    const res = await server.fetch('/api/rooms/payments-42/events/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'payment.updated', data: ['any', 'json', 1] }),
    });
    assert.equal(res.status, 202);
    const { id } = await res.json();
    const fromRest = await room.next((f) => f.type === 'payment.updated');
    assert.equal(fromRest.id, id, 'the answer\'s id is the frame\'s');
    assert.ok(BigInt(fromRest.id as string) > BigInt(fromSql.id as string));
    assert.deepEqual(JSON.parse(fromRest.data), ['any', 'json', 1]);
    await room.close();
  });

  test('a room event too large for a NOTIFY still arrives whole', async () => {
    const room = await open('acme', 'topics=room:payments-43');
    const big = { note: 'x'.repeat(20_000) };
    await publish('acme', 'payments-43', 'payment.note', big);
    const f = await room.next((x) => x.type === 'payment.note');
    assert.deepEqual(JSON.parse(f.data), big);
    await room.close();
  });
});

describe('subscribe and unsubscribe', () => {
  test('topics change live and each change is answered with the whole set', async () => {
    const s = await open('acme', 'topics=');
    s.raw.send(JSON.stringify({ type: 'subscribe', topics: [`desk:${d1.deskId}`, 'room:payments-42'] }));
    const answer = await s.next((f) => f.type === 'subscribed');
    assert.deepEqual(answer.topics, [`desk:${d1.deskId}`, 'room:payments-42']);
    await message(d1, 'live one');
    await s.next((f) => f.type === 'new_message' && data(f).message === 'live one');

    s.raw.send(JSON.stringify({ type: 'unsubscribe', topics: [`desk:${d1.deskId}`] }));
    assert.deepEqual((await s.next((f) => f.type === 'subscribed')).topics, ['room:payments-42']);
    await message(d1, 'not for it');
    await publish('acme', 'payments-42', 'payment.updated', { n: 1 });
    await s.next((f) => f.room === 'payments-42');
    assert.ok(!labels(s).includes('not for it'));
    await s.close();
  });

  test('a ping is answered with a pong, after the answers to the frames before it', async () => {
    const s = await open('acme', 'topics=');
    s.raw.send(JSON.stringify({ type: 'subscribe', topics: [`desk:${d1.deskId}`] }));
    s.raw.send(JSON.stringify({ type: 'ping' }));
    await s.next((f) => f.type === 'pong');
    const answers = s.frames.map((f) => f.type);
    assert.deepEqual(answers.slice(answers.indexOf('subscribed')), ['subscribed', 'pong']);
    await s.close();
  });

  for (const [name, frame, code] of [
    ['a frame that is not JSON', 'hello', 'invalid_frame'],
    ['an unknown type', JSON.stringify({ type: 'new_message', data: '{}' }), 'invalid_frame'],
    ['topics that are not a list', JSON.stringify({ type: 'subscribe', topics: 'org' }), 'invalid_frame'],
    ['a malformed topic', JSON.stringify({ type: 'subscribe', topics: ['desk:nope'] }), 'invalid_topic'],
    ['a room name with a space', JSON.stringify({ type: 'subscribe', topics: ['room:a b'] }), 'invalid_topic'],
    ['too many topics', JSON.stringify({ type: 'subscribe', topics: ['room:a', 'room:b', 'room:c', 'room:d'] }), 'too_many_topics'],
  ] as const) {
    test(`${name} gets an error frame (${code}); the socket stays and works`, async () => {
      const s = await open('acme', `topics=desk:${d1.deskId}`);
      s.raw.send(frame);
      const error = await s.next((f) => f.type === 'error');
      assert.equal(error.code, code);
      assert.equal(typeof error.message, 'string');
      await message(d1, `still works after ${name}`);
      await s.next((f) => f.type === 'new_message' && data(f).message === `still works after ${name}`);
      s.raw.send(JSON.stringify({ type: 'subscribe', topics: ['room:payments-42'] }));
      assert.deepEqual((await s.next((f) => f.type === 'subscribed')).topics, [`desk:${d1.deskId}`, 'room:payments-42']);
      await s.close();
    });
  }

  test('a desk of another organization, or none, is not_found and is not added', async () => {
    const s = await open('acme', 'topics=');
    for (const desk of [globex.deskId, '00000000-0000-4000-8000-000000000000']) {
      s.raw.send(JSON.stringify({ type: 'subscribe', topics: [`desk:${desk}`] }));
      const error = await s.next((f) => f.type === 'error');
      assert.equal(error.code, 'not_found');
    }
    s.raw.send(JSON.stringify({ type: 'subscribe', topics: [] }));
    assert.deepEqual((await s.next((f) => f.type === 'subscribed')).topics, []);
    await s.close();
  });

  test('a socket that keeps sending bad frames is closed with 1008', async () => {
    const s = await open('acme');
    const closed = new Promise<number>((resolve) => s.raw.once('close', (code) => resolve(code)));
    for (let i = 0; i < 10; i++) s.raw.send('bad');
    assert.equal(await closed, 1008);
  });
});

describe('topics at connect', () => {
  for (const [query, status, code] of [
    ['topics=desk:nope', 400, 'invalid_topic'],
    ['topics=everything', 400, 'invalid_topic'],
    ['topics=room:a,room:b,room:c,room:d,room:e', 400, 'too_many_topics'],
  ] as const) {
    test(`?${query} is refused with ${status} ${code}`, async () => {
      const token = await server.token('acme');
      const res = await upgradeRequest(`${server.ws.replace('ws:', 'http:')}/ws/chat/acme/?token=${token}&${query}`);
      assert.equal(res.status, status);
      assert.equal(JSON.parse(res.body).error.code, code);
    });
  }

  test('a desk of another organization at connect is a 404', async () => {
    const token = await server.token('acme');
    const res = await upgradeRequest(`${server.ws.replace('ws:', 'http:')}/ws/chat/acme/?token=${token}&topics=desk:${globex.deskId}`);
    assert.equal(res.status, 404);
    assert.equal(JSON.parse(res.body).error.code, 'not_found');
  });
});

describe('resume with topics', () => {
  test('?since= replays exactly the events of the topics given, once each, in order, then live', async () => {
    const query = `topics=desk:${d1.deskId},room:payments-43`;
    const first = await open('acme', query);
    await message(d1, 'seen');
    const seen = await first.next((f) => f.type === 'update_helpdesk');
    await first.close();

    // One write per sequencer window (the witness has each before the next is
    // written): a window numbers its messages before its room events.
    await message(d2, 'other desk');
    await message(d1, 'missed 1');
    await published('missed 1');
    await publish('acme', 'payments-42', 'payment.updated', { other: true });
    await publish('acme', 'payments-43', 'payment.updated', { missed: 2 });
    await witness.next((f) => f.room === 'payments-43' && data(f).missed === 2);
    await message(d1, 'missed 3');
    await published('missed 3');

    const again = await open('acme', `${query}&since=${seen.id}`);
    await again.next((f) => f.type === 'new_message' && data(f).message === 'missed 3');
    await message(d1, 'live');
    await again.next((f) => f.type === 'new_message' && data(f).message === 'live');
    assert.deepEqual(labels(again), ['missed 1', 'desk d1', 'payments-43:payment.updated', 'missed 3', 'desk d1', 'live', 'desk d1']);
    const ids = again.frames.map((f) => BigInt(f.id as string));
    assert.deepEqual(ids, [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'in order');
    await again.close();
  });
});

describe('inbox', () => {
  const assign = (desk: Desk, assignee: string | null) =>
    server.fetch(`/api/help-desks/${desk.deskId}/`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ assignee }),
    });

  test('follows the assignment: a reassigned desk ends with its update_helpdesk', async () => {
    const alice = await open('acme', 'topics=inbox', 'alice');
    const bob = await open('acme', 'topics=inbox', 'bob');
    assert.equal((await assign(d2, 'alice')).status, 200);
    await alice.next((f) => f.type === 'update_helpdesk' && data(f).assignee === 'alice');
    await message(d2, 'for alice');
    await alice.next((f) => f.type === 'new_message' && data(f).message === 'for alice');

    assert.equal((await assign(d2, 'bob')).status, 200);
    await alice.next((f) => f.type === 'update_helpdesk' && data(f).assignee === 'bob');
    await bob.next((f) => f.type === 'update_helpdesk' && data(f).assignee === 'bob');
    await message(d2, 'for bob');
    await bob.next((f) => f.type === 'new_message' && data(f).message === 'for bob');
    await published('for bob');
    // A later alice desk event: everything before it has been through the gateway.
    await server.db.sql`UPDATE help_desks SET assignee = 'alice' WHERE id = ${d1.deskId}`;
    await alice.next((f) => f.type === 'update_helpdesk' && data(f).uuid === d1.deskId);
    assert.deepEqual(labels(alice), ['desk d2', 'for alice', 'desk d2', 'desk d2', 'desk d1']);
    assert.ok(!labels(bob).includes('for alice'), 'bob did not get what came before his assignment');
    assert.deepEqual(labels(bob), ['desk d2', 'for bob', 'desk d2']);
    await server.db.sql`UPDATE help_desks SET assignee = NULL WHERE id IN (${d1.deskId}, ${d2.deskId})`;
    await Promise.all([alice.close(), bob.close()]);
  });

  test('an inbox opened after the assignment has the desk, and once with an overlapping desk topic', async () => {
    await assign(d1, 'carol');
    await message(d1, 'marker');
    await published('marker');
    const carol = await open('acme', `topics=inbox,desk:${d1.deskId}`, 'carol');
    const other = await open('acme', 'topics=inbox', 'dave');
    await message(d1, 'to carol');
    await carol.next((f) => f.type === 'new_message' && data(f).message === 'to carol');
    await published('to carol');
    assert.deepEqual(labels(carol), ['to carol', 'desk d1']);
    assert.deepEqual(labels(other), []);
    await server.db.sql`UPDATE help_desks SET assignee = NULL WHERE id = ${d1.deskId}`;
    await Promise.all([carol.close(), other.close()]);
  });

  test('a resumed inbox replays its desks\' events and the reassignment away, nothing after', async () => {
    await assign(d1, 'erin');
    const erin = await open('acme', 'topics=inbox', 'erin');
    await message(d1, 'erin sees');
    const seen = await erin.next((f) => f.type === 'new_message' && data(f).message === 'erin sees');
    await erin.close();
    // One write per sequencer window, as in the test above.
    await message(d1, 'erin missed');
    await published('erin missed');
    await assign(d1, 'frank');
    await witness.next((f) => f.type === 'update_helpdesk' && data(f).uuid === d1.deskId && data(f).assignee === 'frank');
    await message(d1, 'frank only');
    await published('frank only');
    const again = await open('acme', `topics=inbox&since=${seen.id}`, 'erin');
    await again.next((f) => f.type === 'update_helpdesk' && data(f).assignee === 'frank');
    await message(d2, 'sentinel');
    await published('sentinel');
    // Rendered as the rows are now: every desk event shows frank.
    assert.deepEqual(labels(again), ['desk d1', 'erin missed', 'desk d1', 'desk d1']);
    assert.equal(data(again.frames.at(-1)!).assignee, 'frank');
    await server.db.sql`UPDATE help_desks SET assignee = NULL WHERE id = ${d1.deskId}`;
    await again.close();
  });
});

describe('POST /api/rooms/<name>/events/', () => {
  const post = (path: string, body: string, type = 'application/json') =>
    server.fetch(path, { method: 'POST', headers: { 'content-type': type }, body });

  for (const [name, path, body, status, code] of [
    ['a bad room name', '/api/rooms/a%20b/events/', '{"type":"x","data":1}', 400, 'invalid_path'],
    ['a reserved type', '/api/rooms/r/events/', '{"type":"new_message","data":{}}', 400, 'invalid_body'],
    ['a malformed type', '/api/rooms/r/events/', '{"type":"Payment","data":{}}', 400, 'invalid_body'],
    ['no data', '/api/rooms/r/events/', '{"type":"x"}', 400, 'invalid_body'],
    ['an unknown field', '/api/rooms/r/events/', '{"type":"x","data":1,"room":"y"}', 400, 'invalid_body'],
    ['broken JSON', '/api/rooms/r/events/', '{"type":', 400, 'invalid_json'],
    ['data over MAX_EVENT_BYTES', '/api/rooms/r/events/', JSON.stringify({ type: 'x', data: 'y'.repeat(70_000) }), 413, 'too_large'],
  ] as const) {
    test(`${name}: ${status} ${code}, and nothing is published`, async () => {
      const res = await post(path, body);
      const text = await res.text();
      assert.equal(res.status, status, text);
      assert.equal(JSON.parse(text).error.code, code);
    });
  }

  test('not JSON: 415; no body: 400; no credential: 401', async () => {
    assert.equal((await post('/api/rooms/r/events/', 'type=x', 'application/x-www-form-urlencoded')).status, 415);
    assert.equal((await server.fetch('/api/rooms/r/events/', { method: 'POST' })).status, 400);
    assert.equal((await server.fetch('/api/rooms/r/events/', { method: 'POST', org: null, body: '{}' })).status, 401);
  });

  test('an organization with no row in organizations: 404', async () => {
    const res = await server.fetch('/api/rooms/r/events/', {
      org: 'nowhere',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'x', data: 1 }),
    });
    assert.equal(res.status, 404);
  });

  test('plain SQL refuses every reserved type, a bad room and data over 1 MiB, as REST does', async () => {
    const { reservedEventTypes } = await import('../src/domain.ts');
    for (const type of reservedEventTypes) {
      await assert.rejects(publish('acme', 'r', type, {}), /room_events_type_check/, type);
    }
    await assert.rejects(publish('acme', 'a b', 'x', {}), /room_events_room_check/);
    await assert.rejects(publish('acme', 'r', 'x', 'z'.repeat(1_048_577)), /room_events_data_check/);
  });
});

describe('room events and retention', () => {
  test('a sequenced room event leaves room_events but resumes from the log; past the retention, resync_required', async () => {
    const room = await open('acme', 'topics=room:payments-42');
    await publish('acme', 'payments-42', 'payment.updated', { kept: true });
    const kept = await room.next((f) => f.room === 'payments-42' && data(f).kept === true);
    await room.close();

    // Its row goes once the sequencer's snapshot is past every transaction as old as
    // it, in the whole cluster (other test files run beside this one): each marker
    // moves the sequencer's snapshot on.
    let marker = 0;
    await waitFor(async () => {
      await publish('acme', 'payments-43', 'marker', { n: ++marker });
      await witness.next((f) => f.room === 'payments-43' && data(f).n === marker);
      await pruneOnce(server.db.sql, 3600);
      const [{ left }] = await server.db.sql`SELECT count(*)::int AS left FROM room_events WHERE data @> '{"kept": true}'`;
      return left === 0;
    }, 10_000, 'the room event\'s row to be dropped: the table does not grow');
    const back = await open('acme', `topics=room:payments-42&since=${Number(kept.id) - 1}`);
    const replayed = await back.next((f) => f.room === 'payments-42');
    assert.equal(replayed.id, kept.id);
    assert.deepEqual(data(replayed), { kept: true }, 'the data is in the log');
    await back.close();

    assert.ok((await pruneOnce(server.db.sql, 0)) > 0, 'everything is older than a retention of 0 s');
    const late = await open('acme', `topics=room:payments-42&since=${Number(kept.id) - 1}`);
    assert.deepEqual(await late.next(), { type: 'resync_required' });
    await late.close();
  });
});
