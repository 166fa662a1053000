import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startDeskwire } from '../../src/server.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export interface TestServer {
  db: TestDatabase;
  /** http://127.0.0.1:<port> */
  rest: string;
  /** ws://127.0.0.1:<port> */
  ws: string;
  mediaDir: string;
  close(): Promise<void>;
}

/** deskwire in this process, on free ports, over a fresh database and media folder. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const db = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'deskwire-media-'));
  const config = loadConfig({
    DATABASE_URL: db.url,
    PORT: '0',
    WS_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...env,
  });
  const app = await startDeskwire(config, db.url, createLogger(config.logLevel));
  return {
    db,
    rest: `http://127.0.0.1:${app.restPort}`,
    ws: `ws://127.0.0.1:${app.wsPort}`,
    mediaDir: config.mediaDir,
    async close() {
      await app.close();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
