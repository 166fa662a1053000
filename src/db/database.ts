import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import postgres from 'postgres';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { startEmbeddedPostgres } from './embedded.ts';

export interface Database {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/**
 * DATABASE_URL when set; otherwise a real PostgreSQL of our own under DATA_DIR.
 * When that cluster is already running (the server is up and the CLI or
 * `npm run migrate` is called beside it), it is used as it is and left running.
 */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, stop: async () => {} };
  const urlFile = join(config.dataDir, 'database.url');
  const running = await runningCluster(config.dataDir, urlFile);
  if (running) {
    log.debug({ dataDir: config.dataDir }, 'using the embedded PostgreSQL already running');
    return { url: running, embedded: true, stop: async () => {} };
  }
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, log });
  // Its port changes at each start: leave the current address where psql can find it.
  await writeFile(urlFile, embedded.url + '\n', { mode: 0o600 });
  log.info({ dataDir: config.dataDir }, `embedded PostgreSQL started; psql "$(cat ${relative(process.cwd(), urlFile) || urlFile})"`);
  return { url: embedded.url, embedded: true, stop: embedded.stop };
}

async function runningCluster(dataDir: string, urlFile: string): Promise<string | undefined> {
  if (!existsSync(join(dataDir, 'postgres', 'postmaster.pid')) || !existsSync(urlFile)) return undefined;
  const url = (await readFile(urlFile, 'utf8')).trim();
  const probe = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await probe`SELECT 1`;
    return url;
  } catch {
    return undefined; // a stale pid file from a crash: start it anew
  } finally {
    await probe.end({ timeout: 1 });
  }
}
