import type { Server } from 'node:http';
import postgres from 'postgres';
import type { Config } from './config.ts';
import { listen } from './events/listener.ts';
import { startGateway } from './gateway/sockets.ts';
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
  const gateway = await startGateway({ host: config.host, port: config.wsPort, idleTimeout: config.wsIdleTimeout, log });
  const listener = await listen(sql, gateway.publish, log);
  const rest = createRestApp(sql, config, log);
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
      await listener.close();
      await sql.end({ timeout: 5 });
    },
  };
}
