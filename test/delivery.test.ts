import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { pruneOnce } from '../src/events/retention.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { connect, type Frame, type TestSocket } from './helpers/socket.ts';
import { waitFor } from './helpers/wait.ts';

let server: TestServer;
let acme: Desk;

before(async () => {
  server = await startTestServer();
  acme = await createDesk(server.db.sql, 'acme');
});
after(() => server.close());

const data = (f: Frame) => JSON.parse(f.data) as Record<string, any>;
const messagesOf = (frames: Frame[]) => frames.filter((f) => f.type === 'new_message').map((f) => data(f).message as string);
const write = (text: string) => server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, ${text})`;
const resume = async (since: string | number) => connect(`${server.ws}/ws/chat/acme/?token=${await server.token('acme')}&since=${since}`);
async function until(s: TestSocket, done: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await s.quiet(10);
}

describe('resume with ?since=', () => {
  test('replays exactly what was missed, in order, then goes on live with no gap or duplicate', async () => {
    const first = await server.socket('acme');
    await write('r1');
    const seen = await first.next((f) => f.type === 'new_message' && data(f).message === 'r1');
    await first.next((f) => f.type === 'update_helpdesk');
    const lastSeen = first.frames.at(-1)!.id as string;
    assert.ok(Number(lastSeen) > Number(seen.id), 'ids increase');
    await first.close();

    await write('r2');
    await write('r3');
    const back = await resume(lastSeen);
    await write('r4'); // while the replay may still be running
    await until(back, () => messagesOf(back.frames).includes('r4'));
    await back.quiet(200);
    assert.deepEqual(messagesOf(back.frames), ['r2', 'r3', 'r4']);
    const ids = back.frames.map((f) => Number(f.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in order');
    assert.equal(new Set(ids).size, ids.length, 'no duplicate');
    assert.ok(ids[0]! > Number(lastSeen));
    // Each message is followed by its desk's update; messages numbered in one batch
    // share one, after the last of them.
    const types = back.frames.map((f) => f.type);
    assert.equal(types[0], 'new_message');
    assert.equal(types.filter((t) => t === 'update_helpdesk').length >= 1, true);
    assert.ok(!types.some((t, i) => t === 'update_helpdesk' && types[i - 1] !== 'new_message'), 'a desk update follows a message');
    assert.equal(data(back.frames.at(-1)!).last_message.message, 'r4', 'the last frame is the desk showing r4');
    await back.close();
  });

  test('a transaction that took its rows first but commits last is still delivered on resume', async () => {
    const live = await server.socket('acme');
    const holder = await server.db.sql.reserve();
    try {
      await holder`BEGIN`;
      await holder`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'slow: written first')`;
      await write('fast: committed first');
      const fast = await live.next((f) => f.type === 'new_message' && data(f).message === 'fast: committed first');
      await live.next((f) => f.type === 'update_helpdesk' && Number(f.id) > Number(fast.id));
      const cursor = live.frames.at(-1)!.id as string;
      await live.close(); // the agent drops off while the slow transaction is open

      await holder`COMMIT`;
      const back = await resume(cursor);
      await until(back, () => messagesOf(back.frames).length > 0);
      await back.quiet(200);
      assert.deepEqual(messagesOf(back.frames), ['slow: written first']);
      assert.ok(Number(back.frames[0]!.id) > Number(cursor), 'its position follows the commit, not the insert');
      await back.close();
    } finally {
      holder.release();
    }
  });

  test('a write made after another committed gets the later id, even when both fall in one window', async () => {
    // The first write's transaction is still open when a window is taken, so it is
    // a straggler of the next one, where the write after its commit often lands too.
    const live = await server.socket('acme');
    const holder = await server.db.sql.reserve();
    try {
      for (let i = 0; i < 20; i++) {
        await holder`BEGIN`;
        await holder`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, ${`held ${i}`})`;
        await write(`marker ${i}`);
        await live.next((f) => f.type === 'new_message' && data(f).message === `marker ${i}`);
        await holder`COMMIT`;
        await write(`after ${i}`);
        await live.next((f) => f.type === 'new_message' && data(f).message === `after ${i}`);
      }
      const order = messagesOf(live.frames).filter((m) => !m.startsWith('marker'));
      assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => [`held ${i}`, `after ${i}`]).flat());
    } finally {
      holder.release();
      await live.close();
    }
  });

  test('a since older than the retention gets resync_required first, then live events', async () => {
    await write('before pruning');
    const old = await server.socket('acme');
    await write('marker');
    const marker = await old.next((f) => f.type === 'new_message' && data(f).message === 'marker');
    await old.close();
    assert.ok((await pruneOnce(server.db.sql, 0)) > 0, 'everything is older than a retention of 0 s');

    const back = await resume(Number(marker.id) - 1);
    const first = await back.next();
    assert.deepEqual(first, { type: 'resync_required' });
    await write('after resync');
    await back.next((f) => f.type === 'new_message' && data(f).message === 'after resync');
    await back.close();
  });

  test('a since ahead of the log is resync_required; a malformed one a 400', async () => {
    const ahead = await resume(999_999_999);
    assert.deepEqual(await ahead.next(), { type: 'resync_required' });
    await ahead.close();
    for (const bad of ['abc', '-1', '1.5', '1e9']) {
      await assert.rejects(resume(bad), /upgrade refused: 400/);
    }
  });
});

describe('the gateway never misses what was committed', () => {
  test('the LISTEN backend terminated in the middle of a stream of writes: every event arrives, once, in order', async (t) => {
    const socket = await server.socket('acme');
    const writer = postgres(server.db.url, { max: 4, onnotice: () => {} });
    const total = 300;
    const streamStart = Date.now();
    const writes: Promise<unknown>[] = [];
    const kills: Promise<unknown>[] = [];
    const killed: number[] = [];
    for (let i = 0; i < total; i++) {
      // The kill is not awaited: the writes go on while the gateway reconnects.
      if (i === 100 || i === 200) {
        // Wait for a LISTEN connection other than the one killed before, then kill it.
        let pid: number | undefined;
        await waitFor(async () => {
          const [row] = await server.db.sql`
            SELECT pid FROM pg_stat_activity
            WHERE application_name = 'deskwire-listener' AND datname = current_database() AND NOT (pid = ANY (${killed}::int[]))`;
          pid = row?.pid;
          return pid !== undefined;
        }, 10_000, 'a new LISTEN connection');
        killed.push(pid!);
        kills.push(server.db.sql`SELECT pg_terminate_backend(${pid!}::int) AS ok`.execute()); // queries are lazy: run it now
      }
      writes.push(writer`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, ${`stream ${i}`})`.execute());
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    assert.deepEqual((await Promise.all(kills)).map((r: any) => r[0].ok), [true, true], 'the LISTEN connection was there to kill, twice');
    await Promise.all(writes);
    await writer.end({ timeout: 1 });
    await until(socket, () => messagesOf(socket.frames).filter((m) => m.startsWith('stream ')).length >= total, 15_000);
    await socket.quiet(300);
    const got = messagesOf(socket.frames).filter((m) => m.startsWith('stream '));
    t.diagnostic(`written ${total} with 2 LISTEN backends killed; delivered ${got.length}, duplicates ${got.length - new Set(got).size}; all in ${Date.now() - streamStart} ms`);
    assert.equal(got.length, total, `all ${total} arrived`);
    assert.equal(new Set(got).size, total, 'none twice');
    const ids = socket.frames.map((f) => Number(f.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in position order');
    await socket.close();
  });
});
