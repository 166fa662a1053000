import { DeliverPolicy, Events, type NatsConnection } from 'nats';
import { channels } from '../domain.ts';
import type { Transport } from '../events/listener.ts';
import type { Logger } from '../log.ts';
import { metrics } from '../metrics/registry.ts';
import { headerNames, type NatsNames } from './names.ts';
import { ensureStream } from './nats.ts';

/**
 * FANOUT=nats, a gateway's side: its events come from the database's JetStream
 * stream (an ordered consumer of new messages) instead of a LISTEN of its own. The
 * stream behind it is the same as with LISTEN: after every (re)connect it catches
 * up from the log, and a message naming a previous position it has not seen (the
 * relay failed over, NATS lost messages) makes it read the log before going on.
 */
export function natsTransport(nc: NatsConnection, names: NatsNames, log: Logger): Transport {
  return ({ channels: handlers, onListening, onLost, position }) => {
    let closed = false;
    const bySubject = new Map<string, (payload: string) => void>([
      [names.windows, handlers[channels.windows] ?? (() => {})],
      [names.revoked, handlers[channels.revoked] ?? (() => {})],
    ]);
    const onEvents = handlers[channels.events]!;
    const eventsPrefix = names.events('');

    const consume = async () => {
      for (let attempt = 0; !closed; attempt++) {
        try {
          const jsm = await nc.jetstreamManager();
          await ensureStream(jsm, names);
          const consumer = await nc.jetstream().consumers.get(names.stream, { filterSubjects: names.all, deliver_policy: DeliverPolicy.New });
          const messages = await consumer.consume({ max_messages: 1000 });
          if (closed) return void (await messages.close());
          stopConsuming = () => void messages.close();
          attempt = 0;
          void onListening().catch(() => {});
          for await (const m of messages) {
            if (m.subject.startsWith(eventsPrefix)) {
              const previous = Number(m.headers?.get(headerNames.previous));
              if (previous > position()) onLost(); // a hole: the stream reads the log before this
              onEvents(m.string());
            } else bySubject.get(m.subject)?.(m.string());
          }
        } catch (err) {
          if (closed) return;
          log.warn({ err: (err as Error).message, attempt }, 'NATS consumer failed; making it again');
        }
        if (closed) return;
        onLost();
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    };
    let stopConsuming = () => {};

    // While NATS is away nothing arrives. On its return the consumer is made anew (the
    // stream may be gone with a NATS that lost its storage), and the log read for what was missed.
    void (async () => {
      for await (const s of nc.status()) {
        if (closed) return;
        if (s.type === Events.Disconnect) {
          onLost();
          metrics.listenReconnects.inc();
        } else if (s.type === Events.Reconnect) stopConsuming();
      }
    })();
    const running = consume();

    return {
      async close() {
        closed = true;
        stopConsuming();
        await running;
      },
    };
  };
}
