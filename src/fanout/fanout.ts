import type { Sql } from 'postgres';
import type { Transport } from '../events/listener.ts';
import type { Logger } from '../log.ts';
import { natsTransport } from './consumer.ts';
import { databaseNamespace, natsNames } from './names.ts';
import { connectNats } from './nats.ts';
import { holdRelayLead } from './lead.ts';
import { createRelay } from './relay.ts';

export interface NatsFanout {
  /** The gateway's event stream reads NATS through this. */
  transport: Transport;
  close(): Promise<void>;
}

/** FANOUT=nats: one connection for the relay (while this process holds its lead) and this gateway's consumer. */
export async function startNatsFanout(natsUrl: string, databaseUrl: string, sql: Sql, log: Logger): Promise<NatsFanout> {
  const names = natsNames(await databaseNamespace(sql));
  const nc = await connectNats(natsUrl, 'deskwire', log);
  const relay = createRelay(databaseUrl, sql, nc, names, log);
  const lead = holdRelayLead(databaseUrl, (leading) => (leading ? relay.start() : void relay.stop()), log);
  return {
    transport: natsTransport(nc, names, log),
    async close() {
      await lead.close();
      await relay.stop();
      await nc.close();
    },
  };
}
