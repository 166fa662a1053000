import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { demoInstructions } from '../demo.ts';
import type { Logger } from '../log.ts';
import { serveMetrics } from '../metrics/server.ts';

/** What a gateway worker tells the primary once it takes traffic. */
export interface WorkerUp {
  deskwire: 'up';
  restPort: number;
  wsPort: number;
}

/**
 * WORKERS > 1: this process opens and migrates the database, serves /metrics (the
 * workers' summed) and /readyz, and runs n gateway workers (node:cluster). The
 * workers share PORT (node's cluster hands connections round) and WS_PORT (uWS
 * listens with SO_REUSEPORT: the kernel spreads them). Each runs its own LISTEN or
 * NATS consumer; their sequencers take turns as across machines, one at work. Only
 * the first runs the channel worker. A worker that dies is started again; one that
 * cannot start stops all.
 */
export async function runPrimary(config: Config, log: Logger): Promise<void> {
  const n = config.workers;
  const up = new Map<number, WorkerUp>();
  const workers = new Map<number, Worker>();
  let stopping = false;
  let announced = false;
  let database: Awaited<ReturnType<typeof openDatabase>> | undefined;

  const aggregator = new AggregatorRegistry();
  const metricsServer = await serveMetrics(
    config.host,
    config.metricsPort,
    () => (stopping ? 'draining' : up.size === n ? 'ready' : 'starting'),
    () => aggregator.clusterMetrics(),
  );

  const shutdown = async (signal: NodeJS.Signals, code: number) => {
    const first = !stopping;
    stopping = true;
    // A second signal is passed on too: the workers then skip the rest of their drain.
    for (const w of workers.values()) w.process.kill(signal);
    if (!first) return;
    await Promise.all([...workers.values()].map((w) => (w.isDead() ? undefined : new Promise((r) => w.once('exit', r)))));
    await metricsServer.close();
    await database?.stop();
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutdown(signal, 0));

  database = await openDatabase(config, log);
  await migrate(database.url, log);
  const env = {
    DATABASE_URL: database.url,
    JWT_SECRET: config.jwtSecret,
    ...(database.embedded && { DESKWIRE_DEMO_ORGANIZATION: 'demo' }),
  };

  const fork = (index: number) => {
    const worker = cluster.fork({ ...env, DESKWIRE_WORKER_INDEX: String(index), ...(index > 0 && { WORKER: 'off' }) });
    workers.set(index, worker);
    worker.on('message', (m: WorkerUp) => {
      if (m?.deskwire !== 'up') return;
      up.set(index, m);
      if (up.size === n && !announced) void announce(m);
    });
    worker.on('exit', (code, signal) => {
      const wasUp = up.delete(index);
      if (stopping) return;
      if (!wasUp) {
        log.fatal({ worker: index, code, signal }, 'a gateway worker could not start; stopping');
        void shutdown('SIGTERM', 1);
        return;
      }
      log.error({ worker: index, code, signal }, 'a gateway worker died; starting it again');
      fork(index);
    });
  };
  for (let i = 0; i < n; i++) fork(i);

  const announce = async (w: WorkerUp) => {
    announced = true;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const rest = `http://${host}:${w.restPort}`;
    const websocket = `ws://${host}:${w.wsPort}/ws/chat/<organization>/`;
    log.info(
      { rest, websocket, metrics: `http://${host}:${metricsServer.port}/metrics`, database: database!.embedded ? 'embedded' : 'DATABASE_URL', workers: n },
      `deskwire is up: ${n} workers, REST on ${rest}, WebSocket on ${websocket}`,
    );
    if (database!.embedded) console.error(await demoInstructions(database!.url, config.jwtSecret, rest, websocket));
  };
}
