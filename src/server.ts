import type { Server } from 'node:http';
import postgres from 'postgres';
import type { Config } from './config.ts';
import { createAuthenticator } from './auth/credentials.ts';
import { listen } from './events/listener.ts';
import { closeCodes, startGateway } from './gateway/sockets.ts';
import type { Logger } from './log.ts';
import { createRestApp } from './rest/app.ts';
import { prepareMediaDir } from './rest/media.ts';

export interface Deskwire {
  restPort: number;
  wsPort: number;
  close(): Promise<void>;
}

/**
 * Wires the two flows on one migrated database:
 *   route -> SQL -> trigger            (REST writes rows)
 *   trigger -> NOTIFY -> listener -> topic -> socket
 */
export async function startDeskwire(config: Config, databaseUrl: string, log: Logger): Promise<Deskwire> {
  await prepareMediaDir(config.mediaDir);
  const sql = postgres(databaseUrl, {
    max: 10,
    onnotice: () => {},
    connection: { application_name: 'deskwire' },
  });
  const authenticate = createAuthenticator(sql, config.jwtSecret, config.authFailuresPerMinute);
  const gateway = await startGateway({
    host: config.host,
    port: config.wsPort,
    idleTimeout: config.wsIdleTimeout,
    authenticate,
    connectionsPerCredential: config.wsConnectionsPerToken,
    allowedOrigins: config.allowedOrigins,
    log,
  });
  const listener = await listen(sql, gateway.publish, log);
  // A revoked API key loses its open sockets at once, not at their next reconnect.
  const revocations = await sql.listen('deskwire_revoked', (id) => gateway.disconnect(`key:${id}`, closeCodes.revoked, 'credential revoked'));
  const rest = createRestApp(sql, authenticate, config, log);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = rest.listen(config.port, config.host, () => resolve(s)).once('error', reject);
  });
  const restPort = (server.address() as { port: number }).port;

  return {
    restPort,
    wsPort: gateway.port,
    async close() {
      gateway.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await revocations.unlisten().catch(() => {});
      await listener.close();
      await sql.end({ timeout: 5 });
    },
  };
}
