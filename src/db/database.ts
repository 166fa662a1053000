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
  log.info({ dataDir: config.dataDir }, 'embedded PostgreSQL started');
  return { url: embedded.url, embedded: true, stop: embedded.stop };
}
