import type { Server } from 'node:http';
import postgres from 'postgres';
import { createAuthenticator } from './auth/credentials.ts';
import { mintToken } from './auth/tokens.ts';
import { consoleFiles } from './console/serve.ts';
import type { Config } from './config.ts';
import { channels, credentialId } from './domain.ts';
import { streamEvents } from './events/listener.ts';
import { createResumes } from './events/replay.ts';
import { pruneEvents } from './events/retention.ts';
import { startSequencer } from './events/sequencer.ts';
import { startNatsFanout } from './fanout/fanout.ts';
import { startChannelWorker, workerOptions } from './channels/worker.ts';
import { closeCodes, type Gateway, startGateway } from './gateway/sockets.ts';
import type { Logger } from './log.ts';
import { createRestApp } from './rest/app.ts';
import { createNumbered } from './rooms/numbered.ts';
import { topicLookups } from './topics/lookups.ts';
import { prepareMediaDir } from './rest/media.ts';
import { measureSequencerLagWith } from './metrics/registry.ts';
import { observeWindow } from './metrics/windows.ts';
import { createReadiness, type Readiness } from './ops/readiness.ts';

export interface Deskwire {
  restPort: number;
  wsPort: number;
  /** What GET /readyz answers. */
  readiness: Readiness;
  /** /readyz turns 503; everything else goes on until close(). */
  drain(): void;
  /** Stops accepting, closes sockets (1001), lets requests in flight finish. */
  close(): Promise<void>;
}

/** How long requests in flight may take to finish at shutdown. */
const drainMs = 10_000;
/** How long a resume from an id this process has not published yet waits for it. */
const resumeWaitMs = 5_000;

/**
 * Wires the two flows on one migrated database:
 *   route -> SQL -> rows (written_by)                        (REST writes rows, as psql does)
 *   rows -> sequencer -> events + NOTIFY -> listener -> topic -> socket
 *                    \-> delivery jobs -> channel worker -> provider -> rows
 */
export async function startDeskwire(config: Config, databaseUrl: string, log: Logger, opts: { demoOrganization?: string } = {}): Promise<Deskwire> {
  await prepareMediaDir(config.mediaDir);
  const sql = postgres(databaseUrl, {
    max: 10,
    // See src/events/connection.ts: a reconnect killed mid type-fetch must not crash us.
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: 'deskwire' },
  });
  measureSequencerLagWith(() =>
    Promise.race([
      sql<{ lag: number }[]>`SELECT deskwire.sequencer_lag() AS lag`.then(([r]) => r!.lag, () => undefined),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000).unref()),
    ]),
  );
  const authenticate = createAuthenticator(sql, config.jwtSecret, config.authFailuresPerMinute);
  const resumes = createResumes(sql, resumeWaitMs);
  const numbered = createNumbered();
  const readiness = createReadiness();
  let gateway: Gateway | undefined;
  // FANOUT=nats: one process relays the log to NATS; every gateway reads NATS, not a LISTEN of its own.
  const nats = config.fanout === 'nats' ? await startNatsFanout(config.natsUrl, databaseUrl, sql, log) : undefined;
  const sequencer = startSequencer(databaseUrl, { log });
  const events = await streamEvents(databaseUrl, sql, {
    transport: nats?.transport,
    onEvent: (e) => {
      resumes.published(e);
      gateway?.publish(e);
      numbered.published(e);
    },
    onWindow: observeWindow,
    channels: {
      // A revoked API key loses its open sockets at once, not at their next reconnect.
      [channels.revoked]: (id) => gateway?.disconnect(credentialId.key(id), closeCodes.revoked, 'credential revoked'),
    },
    log,
  });
  resumes.follow(events);
  // Sockets are let in only once the stream has read the log to its end: a client
  // resuming from the id it saw on the process before this one is then behind or
  // level with what this one has published, never ahead of it.
  await events.ready;
  // Bundled before sockets are let in: a client back after a restart reloads over REST at once.
  const demo = opts.demoOrganization;
  const agentConsole = await consoleFiles({
    wsPort: () => gateway!.port,
    demoToken: demo ? () => mintToken(config.jwtSecret, { org: demo, sub: 'demo', ttlSeconds: 24 * 3600 }) : undefined,
  });
  gateway = await startGateway({
    host: config.host,
    port: config.wsPort,
    idleTimeout: config.wsIdleTimeout,
    authenticate,
    connectionsPerCredential: config.wsConnectionsPerToken,
    allowedOrigins: config.allowedOrigins,
    replay: resumes.replay,
    position: () => events.position(),
    ...topicLookups(sql),
    maxTopics: config.wsTopicsPerSocket,
    log,
  });
  const pruning = pruneEvents(sql, config.eventRetentionSeconds, log);
  const worker = config.worker ? await startChannelWorker(databaseUrl, sql, workerOptions(config, log)) : undefined;
  const rest = createRestApp(sql, authenticate, { ...config, wsPort: gateway.port, numbered, console: agentConsole, readiness }, log);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = rest.listen(config.port, config.host, () => resolve(s)).once('error', reject);
  });
  const restPort = (server.address() as { port: number }).port;
  readiness.started(() => events.live());

  return {
    restPort,
    wsPort: gateway.port,
    readiness,
    drain: () => readiness.drain(),
    async close() {
      readiness.drain();
      pruning.stop();
      gateway!.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          log.warn('requests still in flight after the drain time; closing them');
          server.closeAllConnections();
        }, drainMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      // Deliveries in flight finish, or are retried by the next worker.
      await worker?.stop();
      await sequencer.close();
      await events.close();
      await nats?.close();
      await sql.end({ timeout: 5 });
    },
  };
}
