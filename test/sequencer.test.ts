// The sequencer protocol (sql/040_sequence.sql): writers do nothing for events but
// leave their transaction id on their rows; the sequencer finds every committed
// change between two snapshots, once, however writers interleave.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { startDeskwire } from '../src/server.ts';
import { createTestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, testSecret, type TestServer } from './helpers/server.ts';
import { connect, type Frame, type TestSocket } from './helpers/socket.ts';

let server: TestServer;
let acme: Desk;
let agent: TestSocket;

before(async () => {
  server = await startTestServer();
  acme = await createDesk(server.db.sql, 'acme');
  agent = await server.socket('acme');
});
after(async () => {
  await agent.close();
  await server.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const data = (f: Frame) => JSON.parse(f.data) as Record<string, any>;
const about = (id: string) => (f: Frame) => (f.type === 'new_message' || f.type === 'update_message') && data(f).uuid === id;
const messageFrame = (id: string) => (f: Frame) => f.type === 'new_message' && data(f).uuid === id;
const insert = async (text: string, sql = server.db.sql) => {
  const [row] = await sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, ${text}) RETURNING id`;
  return row!.id as string;
};

test('writers pay nothing for events: no trigger runs when a row is inserted', async () => {
  const triggers = await server.db.sql`
    SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE NOT t.tgisinternal AND (t.tgtype & 4) <> 0 AND c.relname IN ('messages', 'clients')`;
  assert.deepEqual([...triggers], [], 'no INSERT trigger on messages or clients');
  const id = await insert('plain insert');
  await agent.next(messageFrame(id));
  const [row] = await server.db.sql`SELECT written_by = created_by AS same FROM messages WHERE id = ${id}`;
  assert.equal(row!.same, true, 'the row names the transaction that wrote it, and nothing else was written for it');
});

test('a writer open for a while is delivered when it commits; writes committed meanwhile are not held back', async () => {
  const slow = await server.db.sql.reserve();
  try {
    await slow`BEGIN`;
    const [row] = await slow`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'open a while') RETURNING id`;
    const meanwhile = await insert('committed meanwhile');
    const early = await agent.next(messageFrame(meanwhile));
    await sleep(300); // hundreds of windows go by with the slow one in flight
    assert.ok(!agent.frames.some(messageFrame(row!.id as string)), 'nothing is sent before its commit');
    await slow`COMMIT`;
    const late = await agent.next(messageFrame(row!.id as string));
    assert.ok(Number(late.id) > Number(early.id), 'numbered when it became visible: after what committed before it');
  } finally {
    slow.release();
  }
});

test('an insert and an update in one transaction are one new_message, with the row as it ended', async () => {
  const id = await server.db.sql.begin(async (tx) => {
    const [row] = await tx`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'draft') RETURNING id`;
    await tx`UPDATE messages SET message = 'final', status = 'sent' WHERE id = ${row!.id}`;
    return row!.id as string;
  });
  const frame = await agent.next(messageFrame(id));
  assert.equal(data(frame).message, 'final');
  assert.equal(data(frame).status, 'sent');
  const more = await agent.quiet(100);
  assert.ok(!more.some(about(id)), 'no update_message for a change no one saw the row without');
});

test('a message updated right after its insert, in another transaction, is never missed as new', async () => {
  // However the two commits fall into windows: both in one (one new_message with
  // the final row) or apart (new_message, then update_message).
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    const id = await insert(`quick ${i}`);
    await server.db.sql`UPDATE messages SET status = 'delivered' WHERE id = ${id}`;
    ids.push(id);
  }
  for (const id of ids) {
    const first = await agent.next(about(id));
    assert.equal(first.type, 'new_message', 'the first frame of a message announces it');
    if (data(first).status !== 'delivered') await agent.next((f) => about(id)(f) && data(f).status === 'delivered');
    assert.ok(agent.frames.filter(about(id)).length <= 2, 'once as new, at most once as updated');
  }
});

test('an update of an older message sends update_message; the desk only when it is the last message', async () => {
  const older = await insert('older');
  const newer = await insert('newer');
  await agent.next((f) => f.type === 'update_helpdesk' && data(f).last_message.uuid === newer);
  const from = agent.frames.length;
  await server.db.sql`UPDATE messages SET status = 'read' WHERE id = ${older}`;
  const updated = await agent.next((f) => f.type === 'update_message' && data(f).uuid === older);
  assert.equal(data(updated).status, 'read');
  await server.db.sql`UPDATE messages SET status = 'read' WHERE id = ${newer}`;
  const desk = await agent.next((f) => f.type === 'update_helpdesk' && data(f).last_message.uuid === newer && data(f).last_message.status === 'read');
  const between = agent.frames.slice(from, agent.frames.indexOf(desk));
  assert.deepEqual(between.map((f) => f.type), ['update_message', 'update_message'], 'no desk event for the older message');
});

test('a message deleted in its own transaction is never sent; a deleted last message updates the desk', async () => {
  const before = await insert('stays last');
  await agent.next(messageFrame(before));
  const ghost = await server.db.sql.begin(async (tx) => {
    const [row] = await tx`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'here and gone') RETURNING id`;
    await tx`DELETE FROM messages WHERE id = ${row!.id}`;
    return row!.id as string;
  });
  const last = await insert('to be deleted');
  await agent.next(messageFrame(last));
  await server.db.sql`DELETE FROM messages WHERE id = ${last}`;
  const desk = await agent.next((f) => f.type === 'update_helpdesk' && data(f).last_message.uuid === before);
  assert.equal(data(desk).uuid, acme.deskId, 'the desk shows its new last message');
  assert.ok(!agent.frames.some((f) => f.data.includes(ghost)), 'no frame ever named the message that never was');
});

test('concurrent writers: every message is numbered and delivered once, ids increasing', async () => {
  const writers = postgres(server.db.url, { max: 8, onnotice: () => {} });
  const from = agent.frames.length;
  try {
    const ids = (await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      const mine: string[] = [];
      for (let i = 0; i < 40; i++) {
        const [row] = await writers.begin(async (tx) => {
          const r = await tx`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, ${`w${w} ${i}`}) RETURNING id`;
          if (i % 3 === 0) await sleep(2); // commits land out of the order the ids were drawn in
          return r;
        });
        mine.push(row!.id as string);
      }
      return mine;
    }))).flat();
    const want = new Set(ids);
    const delivered = () => agent.frames.filter((f) => f.type === 'new_message' && want.has(data(f).uuid));
    const deadline = Date.now() + 10_000;
    while (new Set(delivered().map((f) => data(f).uuid)).size < want.size && Date.now() < deadline) await agent.quiet(20);
    await agent.quiet(100);
    const seen = new Map<string, number>();
    for (const f of delivered()) seen.set(data(f).uuid, (seen.get(data(f).uuid) ?? 0) + 1);
    assert.equal(seen.size, want.size, 'every message delivered');
    assert.ok([...want].every((id) => seen.get(id) === 1), 'each once');
    const positions = agent.frames.slice(from).map((f) => Number(f.id));
    assert.deepEqual(positions, [...positions].sort((a, b) => a - b), 'ids increase frame after frame');
  } finally {
    await writers.end();
  }
});

test('a bulk write larger than a window sends resync_required once, not every row; live goes on after it', { timeout: 60_000 }, async () => {
  await server.db.sql`
    INSERT INTO messages (help_desk_id, message) SELECT ${acme.deskId}, 'bulk ' || g FROM generate_series(1, 20001) g`;
  const resync = await agent.next((f) => f.type === 'resync_required', 30_000);
  assert.match(String(resync.id), /^\d+$/, 'it has an id to resume from, like any event');
  const after = await insert('after the bulk');
  await agent.next(messageFrame(after), 10_000);
  assert.ok(agent.frames.filter((f) => f.data?.includes('"bulk ')).length === 0, 'the bulk rows were not sent one by one');
});

test('an idle sequencer still lights up a socket within milliseconds of a plain SQL write', async () => {
  await sleep(1500); // past the idle time: it now looks every few milliseconds
  const started = Date.now();
  await agent.next(messageFrame(await insert('after a lull')));
  assert.ok(Date.now() - started < 500, `arrived in ${Date.now() - started} ms`);
});

test('a gateway that was down finds what was written meanwhile: a resume gets it all, in order', { timeout: 60_000 }, async () => {
  const db = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'deskwire-seq-'));
  const config = loadConfig({ DATABASE_URL: db.url, JWT_SECRET: testSecret, PORT: '0', WS_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const log = createLogger('silent');
  const token = await server.token('initech');
  try {
    const desk = await createDesk(db.sql, 'initech');
    let app = await startDeskwire(config, db.url, log);
    let socket = await connect(`ws://127.0.0.1:${app.wsPort}/ws/chat/initech/?token=${token}`);
    const [first] = await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'before the stop') RETURNING id`;
    const seen = await socket.next((f) => f.type === 'new_message' && data(f).uuid === first!.id);
    await socket.close();
    await app.close();

    const written: string[] = [];
    for (let i = 0; i < 5; i++) {
      const [r] = await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${`while down ${i}`}) RETURNING id`;
      written.push(r!.id);
    }
    app = await startDeskwire(config, db.url, log);
    socket = await connect(`ws://127.0.0.1:${app.wsPort}/ws/chat/initech/?token=${token}&since=${seen.id}`);
    try {
      for (const id of written) await socket.next((f) => f.type === 'new_message' && data(f).uuid === id);
      const got = socket.frames.filter((f) => f.type === 'new_message').map((f) => data(f).uuid);
      assert.deepEqual(got, written, 'each once, in the order written');
    } finally {
      await socket.close();
      await app.close();
    }
  } finally {
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
