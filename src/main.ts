import cluster from 'node:cluster';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { runPrimary, type WorkerUp } from './ops/primary.ts';
import { type Database, openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { demoInstructions } from './demo.ts';
import { createLogger } from './log.ts';
import { reportToPrimary } from './metrics/registry.ts';
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
// WORKERS > 1: this process runs the workers (src/ops/primary.ts); each of them runs what follows.
const primary = config.workers > 1 && cluster.isPrimary;
const worker = cluster.isWorker;
if (primary) await runPrimary(config, log);
else await serve(config);

async function serve(config: Config) {
  let database: Database | undefined;
  let deskwire: Deskwire | undefined;
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;

  // Installed before anything starts, so a signal at any moment stops what exists.
  // SIGTERM (a deploy) first turns /readyz 503 for DRAIN_GRACE while everything else
  // goes on, so a load balancer stops sending new clients here before sockets close;
  // a second signal, or SIGINT (Ctrl-C), skips the wait.
  let stopping = false;
  let hurry: (() => void) | undefined;
  const stop = async (signal: 'SIGINT' | 'SIGTERM') => {
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
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(signal));
  // A worker whose primary is gone (killed with -9) stops too, rather than hold WS_PORT
  // beside the next primary's workers.
  if (worker) process.once('disconnect', () => void stop('SIGINT'));

  try {
    // A worker's metrics are served by the primary, which also migrated the database.
    if (worker) reportToPrimary();
    else metricsServer = await serveMetrics(config.host, config.metricsPort, () => (stopping ? 'draining' : (deskwire?.readiness.state() ?? 'starting')));
    database = await openDatabase(config, log);
    if (!worker) await migrate(database.url, log);
    const demoOrganization = database.embedded ? 'demo' : process.env.DESKWIRE_DEMO_ORGANIZATION;
    deskwire = await startDeskwire(config, database.url, log, { demoOrganization });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const unreachable = ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'CONNECT_TIMEOUT'].includes(e.code ?? '');
    log.fatal({ err }, unreachable ? `cannot reach the database: ${e.message}` : `could not start: ${e.message}`);
    await metricsServer?.close();
    await database?.stop();
    process.exit(1);
  }

  if (worker) {
    process.send!({ deskwire: 'up', restPort: deskwire.restPort, wsPort: deskwire.wsPort } satisfies WorkerUp);
    return;
  }
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const rest = `http://${host}:${deskwire.restPort}`;
  const websocket = `ws://${host}:${deskwire.wsPort}/ws/chat/<organization>/`;
  log.info(
    { rest, websocket, metrics: `http://${host}:${metricsServer!.port}/metrics`, database: database.embedded ? 'embedded' : 'DATABASE_URL' },
    `deskwire is up: REST on ${rest}, WebSocket on ${websocket}`,
  );
  if (database.embedded) console.error(await demoInstructions(database.url, config.jwtSecret, rest, websocket));
}
