import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { startEmbeddedPostgres } from './embedded.ts';

export interface Database {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** DATABASE_URL when set; otherwise a real PostgreSQL of our own under DATA_DIR. */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, stop: async () => {} };
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, log });
  // Its port changes at each start: leave the current address where psql can find it.
  const urlFile = join(config.dataDir, 'database.url');
  await writeFile(urlFile, embedded.url + '\n', { mode: 0o600 });
  log.info({ dataDir: config.dataDir }, `embedded PostgreSQL started; psql "$(cat ${relative(process.cwd(), urlFile) || urlFile})"`);
  return { url: embedded.url, embedded: true, stop: embedded.stop };
}
