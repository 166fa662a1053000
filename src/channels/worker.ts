import { Logger as GraphileLogger, run, runMigrations, type Runner } from 'graphile-worker';
import type { Sql } from 'postgres';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { holdLiveness } from './liveness.ts';
import { channelTasks, type TaskOptions } from './tasks.ts';

export interface WorkerOptions extends Omit<TaskOptions, 'log'> {
  concurrency: number;
  log: Logger;
}

/** How much of a provider's answer to a delivery is read (for the log). */
const answerBytes = 65_536;
/** The echo channel's pause between sent, delivered and read (CONTRACT §10: ~0.5 s, ~1 s). */
const echoStepMs = 500;

/** The worker's options from deskwire's configuration. */
export function workerOptions(config: Config, log: Logger): WorkerOptions {
  return {
    concurrency: config.workerConcurrency,
    maxAttempts: config.deliveryMaxAttempts,
    timeoutMs: config.deliveryTimeoutMs,
    maxResponseBytes: answerBytes,
    echoStepMs,
    log,
  };
}

export interface ChannelWorker {
  /** Jobs in flight finish (or, cut short, are retried later); then it stops. */
  stop(): Promise<void>;
}

/** graphile-worker's schema (graphile_worker), installed or brought up to date. */
export async function installJobQueue(databaseUrl: string, log: Logger): Promise<void> {
  await runMigrations({ connectionString: databaseUrl, logger: graphileLogger(log) });
}

/**
 * Runs deskwire's tasks on graphile-worker: jobs wait in this database, are
 * retried with its backoff, and survive any restart. A process killed mid-job
 * leaves the job locked; liveness.ts frees it for another process within seconds,
 * where graphile-worker alone would wait hours.
 */
export async function startChannelWorker(databaseUrl: string, sql: Sql, opts: WorkerOptions): Promise<ChannelWorker> {
  const liveness = await holdLiveness(databaseUrl, opts.log);
  let runner: Runner;
  try {
    runner = await run({
      connectionString: databaseUrl,
      concurrency: opts.concurrency,
      maxPoolSize: opts.concurrency + 2,
      noHandleSignals: true,
      // At shutdown, a request in flight gets its whole time limit before it is cut
      // short (and its job retried later).
      gracefulShutdownAbortTimeout: opts.timeoutMs + 1000,
      // Jobs ready now arrive by LISTEN at once; this is for jobs whose backoff ends.
      pollInterval: 1000,
      logger: graphileLogger(opts.log),
      taskList: channelTasks(sql, { ...opts, log: opts.log }),
      events: liveness.events,
    });
  } catch (err) {
    await liveness.stop();
    throw err;
  }
  return {
    async stop() {
      await runner.stop();
      await liveness.stop();
    },
  };
}

/**
 * graphile-worker's log lines through ours; its info is our debug (a line per job
 * would flood). Of its metadata only the error's message: the rest can be a whole
 * database client.
 */
function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger(() => (level, message, meta) => {
    const error = (meta as { error?: { message?: string } } | undefined)?.error;
    const fields = { component: 'graphile-worker', ...(error ? { err: error.message ?? String(error) } : {}) };
    if (level === 'error') log.error(fields, message);
    else if (level === 'warning') log.warn(fields, message);
    else log.debug(fields, message);
  });
}
