import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startDeskwire } from '../../src/server.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { connect, type TestSocket } from './socket.ts';

export const testSecret = 'test-secret-that-is-long-enough-for-hs256!';

export interface TestServer {
  db: TestDatabase;
  /** http://127.0.0.1:<port> */
  rest: string;
  /** ws://127.0.0.1:<port> */
  ws: string;
  mediaDir: string;
  /** An access token of `org` (one hour unless said otherwise). */
  token(org: string, opts?: { sub?: string; ttlSeconds?: number }): Promise<string>;
  /** fetch on the REST server, as a token of `org` (default acme); `org: null` sends no credential. */
  fetch(path: string, init?: RequestInit & { org?: string | null }): Promise<Response>;
  /** A socket of `org`, opened with a token of that organization. */
  socket(org: string, path?: string): Promise<TestSocket>;
  close(): Promise<void>;
}

/** deskwire in this process, on free ports, over a fresh database and media folder. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const db = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'deskwire-media-'));
  const config = loadConfig({
    DATABASE_URL: db.url,
    JWT_SECRET: testSecret,
    PORT: '0',
    WS_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    // Tests write fast on purpose; the limits have tests of their own.
    WRITE_RATE_LIMIT: '100000',
    WS_CONNECTIONS_PER_TOKEN: '1000',
    AUTH_FAILURES_PER_MINUTE: '100000',
    // The channel worker only where a test needs it (test/channels.test.ts): on two
    // cores, a worker per test file is load the other files' timings do not need.
    WORKER: 'off',
    // test/delivery-nats.test.ts runs test/delivery.test.ts again with FANOUT=nats.
    FANOUT: process.env.DESKWIRE_TEST_FANOUT ?? 'listen',
    ...(process.env.NATS_URL && { NATS_URL: process.env.NATS_URL }),
    ...env,
  });
  const app = await startDeskwire(config, db.url, createLogger(config.logLevel));
  const rest = `http://127.0.0.1:${app.restPort}`;
  const ws = `ws://127.0.0.1:${app.wsPort}`;
  const token = (org: string, opts: { sub?: string; ttlSeconds?: number } = {}) =>
    mintToken(config.jwtSecret, { org, sub: opts.sub ?? 'agent', ttlSeconds: opts.ttlSeconds ?? 3600 });
  return {
    db,
    rest,
    ws,
    mediaDir: config.mediaDir,
    token,
    async fetch(path, init = {}) {
      const { org = 'acme', ...rest2 } = init;
      const headers = new Headers(rest2.headers);
      if (org !== null && !headers.has('authorization')) headers.set('authorization', `Bearer ${await token(org)}`);
      return fetch(`${rest}${path}`, { ...rest2, headers });
    },
    async socket(org, path = `/ws/chat/${org}/`) {
      return connect(`${ws}${path}${path.includes('?') ? '&' : '?'}token=${await token(org)}`);
    },
    async close() {
      await app.close();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
