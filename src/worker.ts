import postgres from 'postgres';
import { startChannelWorker, workerOptions } from './channels/worker.ts';
import { ConfigError, loadConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { isUpToDate } from './db/migrate.ts';
import { createLogger } from './log.ts';

// `npm run worker`: the channel worker alone (deliveries), beside or instead of the
// one inside `npm start` (WORKER=off there). Any number may run on one database.
try {
  const config = loadConfig(process.env, 'database');
  const log = createLogger(config.logLevel);
  const database = await openDatabase(config, log);
  const sql = postgres(database.url, { max: config.workerConcurrency + 1, fetch_types: false, onnotice: () => {}, connection: { application_name: 'deskwire-worker' } });
  if (!(await isUpToDate(sql))) {
    await sql.end();
    await database.stop();
    throw new ConfigError('the database is not up to date with this version: run `npm run migrate` (or `npm start`) first');
  }
  const worker = await startChannelWorker(database.url, sql, workerOptions(config, log));
  log.info({ concurrency: config.workerConcurrency }, 'deskwire worker is up');
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'worker shutting down; jobs in flight finish first');
      await worker.stop();
      await sql.end({ timeout: 5 });
      await database.stop();
      process.exit(0);
    });
  }
} catch (err) {
  console.error(`deskwire: ${err instanceof ConfigError ? err.message : String((err as Error).stack ?? err)}`);
  process.exit(1);
}
