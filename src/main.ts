import { ConfigError, loadConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { createLogger } from './log.ts';
import { startDeskwire } from './server.ts';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`deskwire: ${err.message}`);
  process.exit(2);
}
const log = createLogger(config.logLevel);

const database = await openDatabase(config, log);
await migrate(database.url, log);
const deskwire = await startDeskwire(config, database.url, log);
log.info(
  {
    rest: `http://${config.host}:${deskwire.restPort}`,
    websocket: `ws://${config.host}:${deskwire.wsPort}/ws/chat/<organization>/`,
    database: database.embedded ? 'embedded' : 'DATABASE_URL',
  },
  `deskwire is up: REST on http://${config.host}:${deskwire.restPort}, WebSocket on ws://${config.host}:${deskwire.wsPort}/ws/chat/<organization>/`,
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await deskwire.close();
    await database.stop();
    process.exit(0);
  });
}
