import { ConfigError, loadConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { createLogger } from './log.ts';

// `npm run migrate`: apply pending migrations and sql/ definitions, then exit.
try {
  const config = loadConfig(process.env, 'database');
  const log = createLogger(config.logLevel);
  const database = await openDatabase(config, log);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => void database.stop().finally(() => process.exit(130)));
  }
  try {
    await migrate(database.url, log);
    log.info('database is up to date');
  } finally {
    await database.stop();
  }
} catch (err) {
  console.error(`deskwire: ${err instanceof ConfigError ? err.message : String((err as Error).stack ?? err)}`);
  process.exit(1);
}
