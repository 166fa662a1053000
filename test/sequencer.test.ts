// The sequencer protocol (sql/040_sequence.sql): writers do not NOTIFY while the
// sequencer is awake, ring it when it sleeps, and it never sleeps on a writer that
// saw it awake. Each test checks the locks and channels the protocol is made of.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import type { Frame, TestSocket } from './helpers/socket.ts';

let server: TestServer;
let acme: Desk;
let agent: TestSocket;
let rings = 0;
let listener: postgres.Sql;

before(async () => {
  server = await startTestServer();
  acme = await createDesk(server.db.sql, 'acme');
  agent = await server.socket('acme');
  listener = postgres(server.db.url, { max: 1, onnotice: () => {} });
  await listener.listen('deskwire_wake', () => rings++);
});
after(async () => {
  await agent.close();
  await listener.end();
  await server.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const messageFrame = (id: string) => (f: Frame) => f.type === 'new_message' && JSON.parse(f.data).uuid === id;
const insert = async (text: string) => {
  const [row] = await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, ${text}) RETURNING id`;
  return row!.id as string;
};
/** Whether this database's sequencer holds the session lock 'awake' (test files run in parallel, each on its own database). */
const awake = async () => {
  const [{ held }] = await server.db.sql`
    SELECT EXISTS (
      SELECT 1 FROM pg_locks l, deskwire.lock_key('awake') k
      WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.mode = 'ExclusiveLock'
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid::bigint = (k >> 32) & 4294967295 AND l.objid::bigint = k & 4294967295) AS held`;
  return held as boolean;
};

test('while writes keep coming, writers do not NOTIFY: the awake sequencer polls', async () => {
  await agent.next(messageFrame(await insert('wake up')));
  const before = rings;
  const ids: string[] = [];
  for (let i = 0; i < 100; i++) {
    ids.push(await insert(`busy ${i}`));
    await sleep(5);
  }
  for (const id of ids) await agent.next(messageFrame(id));
  assert.ok(await awake(), 'the sequencer holds "awake" while events come');
  assert.ok(rings - before <= 2, `${rings - before} of 100 writes rang (a writer that NOTIFYs each time would ring 100)`);
});

test('idle, the sequencer sleeps; a plain SQL write rings it and still lights up the socket', async () => {
  await sleep(700); // idle for longer than it stays awake (250 ms)
  assert.equal(await awake(), false, 'asleep after idling');
  const before = rings;
  const started = Date.now();
  const id = await insert('after a nap');
  await agent.next(messageFrame(id));
  assert.equal(rings - before, 1, 'the writer rang once');
  assert.ok(Date.now() - started < 900, `arrived in ${Date.now() - started} ms, before the 1 s safety poll`);
});

test('a writer that saw it awake keeps it from sleeping until that writer commits', async () => {
  await agent.next(messageFrame(await insert('wake up again')));
  const before = rings;
  const open = postgres(server.db.url, { max: 1, onnotice: () => {} });
  try {
    const id = await open.begin(async (tx) => {
      const [row] = await tx`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'slow writer') RETURNING id`;
      await sleep(800); // well past the idle time: it would sleep, were it not for us
      assert.ok(await awake(), 'still awake while a writer that did not ring is in flight');
      return row!.id as string;
    });
    const committed = Date.now();
    await agent.next(messageFrame(id));
    assert.equal(rings - before, 0, 'the writer saw it awake and did not ring');
    assert.ok(Date.now() - committed < 500, `arrived ${Date.now() - committed} ms after the commit`);
  } finally {
    await open.end();
  }
});

test('a message deleted before it is numbered is dropped, not sent empty; its desk still updates', async () => {
  // Numbered after the delete: take the positions lock so the sequencer waits.
  const id = await server.db.sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(deskwire.lock_key('positions'))`;
    const inserted = await insert('here and gone');
    await server.db.sql`DELETE FROM messages WHERE id = ${inserted}`;
    return inserted;
  });
  // Frames come in position order: once a later message's frame is here, so is
  // everything numbered before it.
  const marker = await insert('after the delete');
  const seen: Frame[] = [];
  await agent.next((f) => (seen.push(f), messageFrame(marker)(f)));
  assert.ok(!seen.some(messageFrame(id)), 'no new_message for the deleted message');
  const desks = seen.filter((f) => f.type === 'update_helpdesk' && JSON.parse(f.data).uuid === acme.deskId);
  assert.ok(desks.length > 0, 'the desk was updated');
  for (const d of desks) assert.notEqual(JSON.parse(d.data).last_message.uuid, id, 'no desk shows the deleted message');
  const [{ n }] = await server.db.sql`SELECT count(*)::int AS n FROM events WHERE ref = ${id}`;
  assert.equal(n, 0, 'its event was removed from the log');
});

test('a writer open for a while, alone, is numbered when it commits: the scan floor never passes it', async () => {
  await agent.next(messageFrame(await insert('awake first')));
  const slow = await server.db.sql.reserve();
  try {
    await slow`BEGIN`;
    const [row] = await slow`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'open a while') RETURNING id`;
    // No other write completes meanwhile: the sequencer polls a hundred times,
    // each time deciding how far up its scans may start.
    await sleep(150);
    await slow`COMMIT`;
    await agent.next(messageFrame(row!.id as string));
  } finally {
    slow.release();
  }
  const [{ n }] = await server.db.sql`SELECT count(*)::int AS n FROM events WHERE position IS NULL`;
  assert.equal(n, 0, 'nothing left unnumbered');
});

test('concurrent writers: every message is numbered and delivered once', async () => {
  const writers = postgres(server.db.url, { max: 8, onnotice: () => {} });
  try {
    const ids = (await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      const mine: string[] = [];
      for (let i = 0; i < 40; i++) {
        const [row] = await writers.begin(async (tx) => {
          const r = await tx`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, ${`w${w} ${i}`}) RETURNING id`;
          if (i % 3 === 0) await sleep(2); // commits land out of id order
          return r;
        });
        mine.push(row!.id as string);
      }
      return mine;
    }))).flat();
    const want = new Set(ids);
    const delivered = () => agent.frames.filter((f) => f.type === 'new_message' && want.has(JSON.parse(f.data).uuid));
    const deadline = Date.now() + 10_000;
    while (new Set(delivered().map((f) => JSON.parse(f.data).uuid)).size < want.size && Date.now() < deadline) await agent.quiet(20);
    await agent.quiet(100);
    const seen = new Map<string, number>();
    for (const f of delivered()) seen.set(JSON.parse(f.data).uuid, (seen.get(JSON.parse(f.data).uuid) ?? 0) + 1);
    assert.equal(seen.size, want.size, 'every message delivered');
    assert.ok([...want].every((id) => seen.get(id) === 1), 'each once');
  } finally {
    await writers.end();
  }
});
