import type { Sql } from 'postgres';
import type { Transport } from '../events/listener.ts';
import type { Logger } from '../log.ts';
import { natsTransport } from './consumer.ts';
import { databaseNamespace, natsNames } from './names.ts';
import { connectNats } from './nats.ts';
import { createRelay } from './relay.ts';

export interface NatsFanout {
  /** The sequencer's lead: the relay runs while this process has it. */
  onLead(leading: boolean): void;
  /** The gateway's event stream reads NATS through this. */
  transport: Transport;
  close(): Promise<void>;
}

/** FANOUT=nats: one connection for the relay (while leading) and this gateway's consumer. */
export async function startNatsFanout(natsUrl: string, databaseUrl: string, sql: Sql, log: Logger): Promise<NatsFanout> {
  const names = natsNames(await databaseNamespace(sql));
  const nc = await connectNats(natsUrl, 'deskwire', log);
  const relay = createRelay(databaseUrl, sql, nc, names, log);
  return {
    onLead: (leading) => (leading ? relay.start() : void relay.stop()),
    transport: natsTransport(nc, names, log),
    async close() {
      await relay.stop();
      await nc.close();
    },
  };
}
