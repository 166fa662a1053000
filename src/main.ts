import { ConfigError, loadConfig } from './config.ts';
import { type Database, openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { demoInstructions } from './demo.ts';
import { createLogger } from './log.ts';
import { serveMetrics } from './metrics/server.ts';
import { type Deskwire, startDeskwire } from './server.ts';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`deskwire: ${err.message}`);
  process.exit(2);
}
const log = createLogger(config.logLevel);

let database: Database | undefined;
let deskwire: Deskwire | undefined;
let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;

// Installed before anything starts, so a signal at any moment stops what exists.
// SIGTERM (a deploy) first turns /readyz 503 for DRAIN_GRACE while everything else
// goes on, so a load balancer stops sending new clients here before sockets close;
// a second signal, or SIGINT (Ctrl-C), skips the wait.
let stopping = false;
let hurry: (() => void) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return hurry?.();
    stopping = true;
    deskwire?.drain();
    if (signal === 'SIGTERM' && deskwire && config.drainGraceMs > 0) {
      log.info({ signal, graceMs: config.drainGraceMs }, 'draining: /readyz answers 503');
      await new Promise<void>((resolve) => {
        hurry = resolve;
        setTimeout(resolve, config.drainGraceMs);
      });
    }
    log.info({ signal }, 'shutting down');
    await deskwire?.close();
    await metricsServer?.close();
    await database?.stop();
    process.exit(0);
  });
}

try {
  metricsServer = await serveMetrics(config.host, config.metricsPort, () => (stopping ? 'draining' : (deskwire?.readiness.state() ?? 'starting')));
  database = await openDatabase(config, log);
  await migrate(database.url, log);
  deskwire = await startDeskwire(config, database.url, log, { demoOrganization: database.embedded ? 'demo' : undefined });
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  const unreachable = ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'CONNECT_TIMEOUT'].includes(e.code ?? '');
  log.fatal({ err }, unreachable ? `cannot reach the database: ${e.message}` : `could not start: ${e.message}`);
  await metricsServer?.close();
  await database?.stop();
  process.exit(1);
}

const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
const rest = `http://${host}:${deskwire.restPort}`;
const websocket = `ws://${host}:${deskwire.wsPort}/ws/chat/<organization>/`;
log.info(
  { rest, websocket, metrics: `http://${host}:${metricsServer!.port}/metrics`, database: database.embedded ? 'embedded' : 'DATABASE_URL' },
  `deskwire is up: REST on ${rest}, WebSocket on ${websocket}`,
);
if (database.embedded) console.error(await demoInstructions(database.url, config.jwtSecret, rest, websocket));
