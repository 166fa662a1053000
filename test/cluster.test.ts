// Several deskwire processes on one database (CONTRACT §12): every event reaches the
// sockets of each once; a kill -9 of the process whose sequencer works is taken over
// by another's, unnoticed by the sockets on the others; a rolling restart of all of
// them under a steady write load loses nothing. With FANOUT=nats too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { natsAvailable } from './helpers/nats.ts';
import { type ServerProcess, startServerProcess } from './helpers/process.ts';
import { outOfOrder, type ResumingClient, resumingClient } from './helpers/resuming.ts';
import { freePort, waitFor } from './helpers/wait.ts';

const secret = 'cluster-test-secret-long-enough-0123456789abcd';

/** Inserts a message every few milliseconds until stopped; resolves with how many it committed. */
function steadyWriter(db: TestDatabase, desk: Desk, tag: string): { stop(): Promise<string[]> } {
  let writing = true;
  const texts: string[] = [];
  const done = (async () => {
    for (let i = 0; writing; i++) {
      const text = `${tag} ${i}`;
      await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${text})`;
      texts.push(text);
      await new Promise((r) => setTimeout(r, 8));
    }
    return texts;
  })();
  return {
    stop: () => {
      writing = false;
      return done;
    },
  };
}

const messages = (c: ResumingClient) => c.frames.filter((f) => f.type === 'new_message').map((f) => JSON.parse(f.data).message as string);

/** Each client got exactly `texts`, once each, in order, and no resync_required. */
async function assertAllOnce(clients: ResumingClient[], texts: string[], what: string) {
  for (const [i, c] of clients.entries()) {
    await waitFor(() => messages(c).length >= texts.length, 15_000, `${what}: client ${i} to get all ${texts.length} messages (has ${messages(c).length})`);
  }
  await new Promise((r) => setTimeout(r, 300)); // anything extra, duplicated, would arrive now
  for (const [i, c] of clients.entries()) {
    assert.deepEqual(outOfOrder(c.frames), [], `${what}: client ${i}'s ids strictly increase`);
    assert.equal(c.resyncs, 0, `${what}: client ${i} got no resync_required`);
    assert.deepEqual(messages(c), texts, `${what}: client ${i} got every message once, in commit order`);
  }
}

const leads = async (s: ServerProcess) => /^deskwire_sequencer_leader 1$/m.test(await (await fetch(s.metrics)).text());

const natsUp = await natsAvailable();
for (const fanout of ['listen', 'nats'] as const) {
  describe(`FANOUT=${fanout}`, { skip: fanout === 'nats' && !natsUp && 'NATS is not running at NATS_URL' }, () => {
    let db: TestDatabase;
    let desk: Desk;
    const servers: ServerProcess[] = [];
    const clients: ResumingClient[] = [];

    before(async () => {
      db = await createTestDatabase();
      desk = await createDesk(db.sql, 'acme');
    });
    after(async () => {
      for (const c of clients) c.stop();
      for (const s of servers) s.child.kill('SIGKILL');
      await db?.drop();
    });

    /** Three processes on free ports; a client on each that, when its process is gone, resumes on the next one up. */
    async function startThree() {
      const env = (i: number) => ({ DATABASE_URL: db.url, JWT_SECRET: secret, FANOUT: fanout, PORT: String(ports[i]!.rest), WS_PORT: String(ports[i]!.ws) });
      const ports = await Promise.all([0, 1, 2].map(async () => ({ rest: await freePort(), ws: await freePort() })));
      const up = await Promise.all([0, 1, 2].map((i) => startServerProcess(env(i))));
      servers.push(...up);
      const alive = new Set([0, 1, 2]);
      const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
      const mine = [0, 1, 2].map((i) => {
        let tries = 0;
        const c = resumingClient((since) => {
          // Its own process while it runs; the others in turn while it does not.
          const at = alive.has(i) ? i : [...alive][tries++ % alive.size]!;
          return `ws://127.0.0.1:${ports[at]!.ws}/ws/chat/acme/?token=${token}${since ? `&since=${since}` : ''}`;
        }, { minMs: 5, maxMs: 30 });
        clients.push(c);
        return c;
      });
      await waitFor(() => mine.every((c) => c.connections === 1), 10_000, 'a socket on each process');
      return { servers: up, clients: mine, alive, env };
    }

    test('three processes, kill -9 of the sequencer\'s: another takes over within 5 s; nothing lost or twice; the other sockets never notice', { timeout: 90_000 }, async () => {
      const three = await startThree();
      // The first event gives every client a position to resume from.
      await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'first')`;
      await waitFor(() => three.clients.every((c) => messages(c).length === 1), 5000, 'the first message on every socket');
      const writer = steadyWriter(db, desk, 'kill');
      await new Promise((r) => setTimeout(r, 500));

      let leader = -1;
      await waitFor(async () => (leader = (await Promise.all(three.servers.map(leads))).indexOf(true)) >= 0, 5000, 'one process to say it leads');
      three.alive.delete(leader);
      three.servers[leader]!.child.kill('SIGKILL');
      const killed = Date.now();
      await three.servers[leader]!.exited();
      const survivors = [0, 1, 2].filter((i) => i !== leader);
      await waitFor(async () => (await Promise.all(survivors.map((i) => leads(three.servers[i]!)))).some(Boolean), 5000, 'another process to take over');
      // What is written after the kill reaches the sockets within 5 s of it.
      await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'after the kill')`;
      await waitFor(() => survivors.every((i) => messages(three.clients[i]!).includes('after the kill')), Math.max(100, 5000 - (Date.now() - killed)), 'a message written after the kill to reach the surviving sockets');

      await new Promise((r) => setTimeout(r, 1000));
      const written = await writer.stop();
      // 'after the kill' falls somewhere among the writer's: the order is the commit order, as one client saw it.
      await waitFor(() => messages(three.clients[survivors[0]!]!).length >= written.length + 2, 15_000, 'a surviving client to get every message');
      const seen = messages(three.clients[survivors[0]!]!);
      assert.deepEqual(seen.filter((t) => t !== 'after the kill'), ['first', ...written], 'the steady writer\'s messages, every one, in order');
      await assertAllOnce(three.clients, seen, 'after the kill');
      for (const i of survivors) assert.equal(three.clients[i]!.connections, 1, `the socket on process ${i} was never closed`);
      assert.ok(three.clients[leader]!.connections >= 2, 'the killed process\'s client resumed on another');
    });

    test('rolling restart of three processes under a steady write load: nothing lost, nothing twice', { timeout: 120_000 }, async () => {
      const three = await startThree();
      await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'before the roll')`;
      await waitFor(() => three.clients.every((c) => messages(c).includes('before the roll')), 5000, 'a first message on every socket');
      const from = three.clients.map((c) => messages(c).length - 1);
      const writer = steadyWriter(db, desk, 'roll');
      for (const i of [0, 1, 2]) {
        three.alive.delete(i);
        three.servers[i]!.child.kill('SIGTERM');
        assert.equal(await three.servers[i]!.exited(), 0, `process ${i} drained and exited`);
        const next = await startServerProcess(three.env(i));
        servers.push(next);
        three.servers[i] = next;
        three.alive.add(i);
        await new Promise((r) => setTimeout(r, 300));
      }
      const written = await writer.stop();
      for (const [i, c] of three.clients.entries()) {
        await waitFor(() => messages(c).slice(from[i]).length >= written.length + 1, 15_000, `client ${i} to get all ${written.length} messages`);
      }
      await new Promise((r) => setTimeout(r, 300));
      for (const [i, c] of three.clients.entries()) {
        assert.deepEqual(outOfOrder(c.frames), [], `client ${i}'s ids strictly increase`);
        assert.equal(c.resyncs, 0, `client ${i} got no resync_required`);
        assert.deepEqual(messages(c).slice(from[i]), ['before the roll', ...written], `client ${i} got every message once, in order`);
        assert.ok(c.connections >= 2, `client ${i} was moved by the roll`);
      }
    });
  });
}
