// The client package (client/) against a real deskwire process: its socket resumes
// through restarts, cut and dead connections, a 4008 and an expired token, and the
// events it hands the app are the events committed, in order, once. Its REST calls
// are typed by the OpenAPI document.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { connect, type Connection, type DeskwireEvent, rest, type Status, type WebSocketConstructor } from '../client/src/index.ts';
import { createKey, revokeKey } from '../src/auth/keys.ts';
import { mintToken } from '../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { type ServerProcess, startServerProcess } from './helpers/process.ts';
import { freePort, waitFor } from './helpers/wait.ts';

const secret = 'client-test-secret-long-enough-0123456789abcdef';
let db: TestDatabase;
let desk: Desk;
let server: ServerProcess;
let env: Record<string, string>;

before(async () => {
  db = await createTestDatabase();
  desk = await createDesk(db.sql, 'acme');
  env = { DATABASE_URL: db.url, JWT_SECRET: secret, PORT: String(await freePort()), WS_PORT: String(await freePort()) };
  server = await startServerProcess(env);
});
after(async () => {
  server?.child.kill('SIGKILL');
  await db?.drop();
});

const token = (ttlSeconds = 600) => mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds });
let written = 0;
/** Messages written as any service writes them, each named so the test can follow it. */
async function write(n: number, tag: string, text = ''): Promise<string[]> {
  const names = Array.from({ length: n }, (_, i) => `${tag} ${written + i}${text}`);
  written += n;
  for (const name of names) await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${name})`;
  return names;
}

interface Seen {
  connection: Connection;
  events: DeskwireEvent[];
  statuses: { status: Status; code?: number }[];
  resyncs: number;
  /** The texts of the new_message events, in the order the app got them. */
  texts(): string[];
}
/** A client as an app would hold one, with `ws` as Node 20's WebSocket. */
function open(opts: Partial<Parameters<typeof connect>[0]> = {}): Seen {
  const seen = { events: [] as DeskwireEvent[], statuses: [] as Seen['statuses'], resyncs: 0 } as Seen;
  seen.connection = connect({
    url: `ws://127.0.0.1:${env.WS_PORT}`,
    organization: 'acme',
    token: () => token(),
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    backoff: { minMs: 20, maxMs: 200 },
    onEvent: (e) => seen.events.push(e),
    onResync: () => seen.resyncs++,
    onStatus: (status, detail) => seen.statuses.push({ status, code: detail?.code }),
    ...opts,
  });
  seen.texts = () => seen.events.flatMap((e) => (e.type === 'new_message' ? [e.message.message ?? ''] : []));
  return seen;
}
const opened = (s: Seen, n: number, what: string) => waitFor(() => s.statuses.filter((x) => x.status === 'open').length >= n, 15_000, what);
function assertOnceInOrder(s: Seen, expected: string[]) {
  const ids = s.events.map((e) => BigInt(e.id));
  assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'ids only grow');
  assert.deepEqual(s.texts().filter((t) => expected.includes(t)), expected, 'every message committed, once, in order');
}

/** A TCP hop between client and server that the test can cut, or make swallow everything. */
async function proxy(target: number): Promise<{ url: string; cut(): void; blackhole(): void; close(): Promise<void> }> {
  const pairs = new Set<[Socket, Socket]>();
  const srv: Server = createServer((client) => {
    const upstream = tcpConnect(target, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream).on('error', () => {});
    upstream.pipe(client).on('error', () => {});
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('close', () => { upstream.destroy(); pairs.delete(pair); });
    upstream.on('close', () => { client.destroy(); pairs.delete(pair); });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    cut: () => { for (const [a, b] of pairs) { a.destroy(); b.destroy(); } },
    blackhole: () => {
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
        pairs.delete([a, b]);
      }
    },
    close: () => new Promise((r) => { for (const [a, b] of pairs) { a.destroy(); b.destroy(); } srv.close(() => r()); }),
  };
}

describe('connect(): nothing lost, nothing twice', () => {
  test('the server killed (-9) and stopped (SIGTERM) mid-stream: the events seen are the events committed', { timeout: 90_000 }, async () => {
    const s = open();
    try {
      await opened(s, 1, 'the first connection');
      const expected = await write(10, 'restart');
      // Mid-stream: it has an id to resume after (before any event it could only resync).
      await waitFor(() => expected.every((t) => s.texts().includes(t)), 10_000, 'the first messages');
      for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
        const writing = write(30, `during ${signal}`); // a writer that does not stop for the restart
        server.child.kill(signal);
        await server.exited();
        expected.push(...(await writing), ...(await write(5, `down ${signal}`)));
        server = await startServerProcess(env);
        expected.push(...(await write(5, `after ${signal}`)));
        const missing = () => expected.filter((t) => !s.texts().includes(t));
        await waitFor(() => missing().length === 0, 20_000, `every message after ${signal}`).catch((err: Error) => {
          throw new Error(`${err.message}: ${missing().length} missing (first: ${missing()[0]}); statuses ${JSON.stringify(s.statuses.slice(-6))}`);
        });
      }
      await new Promise((r) => setTimeout(r, 300)); // a duplicate would come now
      assertOnceInOrder(s, expected);
      assert.equal(s.resyncs, 0);
      assert.ok(s.statuses.some((x) => x.status === 'reconnecting'), 'it did reconnect');
    } finally {
      s.connection.close();
    }
  });

  test('a cut TCP connection, and a dead one (nothing comes back, no FIN): both resumed', { timeout: 60_000 }, async () => {
    const hop = await proxy(Number(env.WS_PORT));
    const s = open({ url: hop.url, heartbeatMs: 300 });
    try {
      await opened(s, 1, 'the first connection');
      const expected = await write(5, 'hop');
      await waitFor(() => s.texts().length >= 5, 10_000, 'the first messages');
      hop.cut();
      expected.push(...(await write(5, 'after the cut')));
      await opened(s, 2, 'a reconnection after the cut');
      hop.blackhole();
      expected.push(...(await write(5, 'into the void')));
      await opened(s, 3, 'a reconnection once the heartbeat found the connection dead');
      expected.push(...(await write(5, 'after the void')));
      await waitFor(() => expected.every((t) => s.texts().includes(t)), 10_000, 'every message');
      assertOnceInOrder(s, expected);
    } finally {
      s.connection.close();
      await hop.close();
    }
  });

  test('a client that stops reading is closed with 4008 and resumes: nothing lost', { timeout: 60_000 }, async () => {
    const made: WebSocket[] = [];
    class Tracked extends WebSocket {
      constructor(url: string) {
        super(url);
        made.push(this);
      }
    }
    const s = open({ WebSocket: Tracked as unknown as WebSocketConstructor });
    try {
      await opened(s, 1, 'the first connection');
      const tcp = (made[0] as unknown as { _socket: Socket })._socket;
      tcp.pause();
      const expected: string[] = [];
      for (let i = 0; i < 12; i++) expected.push(...(await write(50, 'big', ` ${'x'.repeat(20_000)}`))); // ~12 MB
      await new Promise((r) => setTimeout(r, 1000)); // the server's sweeps see it behind
      tcp.resume();
      await waitFor(() => s.statuses.some((x) => x.code === 4008), 20_000, 'a 4008 close');
      await waitFor(() => expected.every((t) => s.texts().includes(t)), 30_000, 'every message after the 4008');
      assertOnceInOrder(s, expected);
    } finally {
      s.connection.close();
    }
  });

  test('an expired token (4001): the token callback is asked again, and the stream goes on', { timeout: 60_000 }, async () => {
    let asked = 0;
    const s = open({ token: () => (asked++, token(asked === 1 ? 2 : 600)) });
    try {
      await opened(s, 1, 'the first connection');
      const expected = await write(3, 'before expiry');
      await waitFor(() => s.statuses.some((x) => x.code === 4001), 20_000, 'the server to close the expired socket (4001)');
      expected.push(...(await write(3, 'after expiry')));
      await waitFor(() => expected.every((t) => s.texts().includes(t)), 10_000, 'every message');
      assertOnceInOrder(s, expected);
      assert.equal(asked, 2, 'one fresh token, asked before reconnecting');
    } finally {
      s.connection.close();
    }
  });

  test('resync_required calls onResync, and the live events after it still come', { timeout: 30_000 }, async () => {
    const s = open({ since: '999999999' }); // ahead of the log: a since that cannot be resumed
    try {
      await waitFor(() => s.resyncs === 1, 10_000, 'onResync');
      const expected = await write(2, 'after the resync');
      await waitFor(() => expected.every((t) => s.texts().includes(t)), 10_000, 'the live events after it');
    } finally {
      s.connection.close();
    }
  });

  test('a reconnection before any event was seen cannot resume: onResync', { timeout: 30_000 }, async () => {
    const hop = await proxy(Number(env.WS_PORT));
    const s = open({ url: hop.url });
    try {
      await opened(s, 1, 'the first connection');
      hop.cut();
      await opened(s, 2, 'the reconnection');
      assert.equal(s.resyncs, 1);
    } finally {
      s.connection.close();
      await hop.close();
    }
  });

  test('room events reach onEvent, one named "pong" too (a room frame is told by its room)', { timeout: 30_000 }, async () => {
    const s = open({ topics: ['room:r1'] });
    try {
      await opened(s, 1, 'the first connection');
      await db.sql`SELECT deskwire.publish('acme', 'r1', 'pong', '{"n": 1}')`;
      await db.sql`SELECT deskwire.publish('acme', 'r1', 'payment.updated', '{"n": 2}')`;
      await waitFor(() => s.events.length === 2, 10_000, 'both room events');
      assert.deepEqual(s.events.map((e) => (e.type === 'room' ? [e.room, e.event, e.data] : e.type)), [['r1', 'pong', { n: 1 }], ['r1', 'payment.updated', { n: 2 }]]);
    } finally {
      s.connection.close();
    }
  });

  test('a revoked API key (4003) stops the client for good', { timeout: 30_000 }, async () => {
    const { id, key } = await createKey(db.sql, 'acme', 'client test');
    const s = open({ token: key });
    await opened(s, 1, 'the first connection');
    await revokeKey(db.sql, id);
    await waitFor(() => s.connection.status === 'closed', 10_000, 'the client to stop');
    assert.equal(s.statuses.at(-1)?.code, 4003);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(s.statuses.filter((x) => x.status === 'connecting' || x.status === 'reconnecting').length, 1, 'no reconnection');
  });
});

describe('rest()', () => {
  test('typed calls: list, history page, send, and an error body', async () => {
    const api = rest({ url: server.rest, token: () => token() });
    const desks = await api.GET('/api/help-desks/');
    assert.equal(desks.response.status, 200);
    assert.ok(desks.data!.some((d) => d.uuid === desk.deskId));
    const sent = await api.POST('/api/send-message/', { body: { help_desk: desk.deskId, message: 'from the client' } });
    assert.equal(sent.data!.status, 'sending');
    const page = await api.GET('/api/help-desks/{uuid}/history/', { params: { path: { uuid: desk.deskId }, query: { limit: 1 } } });
    assert.equal(page.data![0]!.uuid, sent.data!.uuid);
    const missing = await api.GET('/api/help-desks/{uuid}/history/', { params: { path: { uuid: '00000000-0000-4000-8000-000000000000' } } });
    assert.equal(missing.response.status, 404);
    assert.equal(missing.error!.error.code, 'not_found');
  });
});
