import { headers, type JetStreamClient, type NatsConnection } from 'nats';
import type { Sql } from 'postgres';
import { channels } from '../domain.ts';
import type { LoggedChange } from '../events/event.ts';
import { type EventStream, streamEvents, type Window, windowNote } from '../events/listener.ts';
import { lastLogged } from '../events/replay.ts';
import type { Logger } from '../log.ts';
import { headerNames, type NatsNames } from './names.ts';
import { ensureStream } from './nats.ts';

/** A line larger than this goes as "<position> <organization>": gateways read it from the log. */
const maxLine = 512 * 1024;
/** Publishes not yet acknowledged: past this, the relay starts over from what the stream holds. */
const maxInFlight = 10_000;

export interface Relay {
  /** This process's sequencer leads: relay from where the stream ends. */
  start(): void;
  stop(): Promise<void>;
}

/**
 * FANOUT=nats: the one LISTEN of a database. Runs in the process whose sequencer
 * works and publishes every change, in position order, to the database's JetStream
 * stream (subject per organization, message id = position). It starts from the
 * stream's last position and reads anything after it from the log, so a relay that
 * died, or a publish that failed, leaves no hole: each message also names the
 * position sent before it, and a gateway that sees one it lacks reads the log.
 */
export function createRelay(url: string, sql: Sql, nc: NatsConnection, names: NatsNames, log: Logger): Relay {
  const js: JetStreamClient = nc.jetstream();
  let running: Promise<void> | undefined;
  let stopping: (() => void) | undefined;

  const run = async () => {
    let stopped = false;
    const stop = new Promise<void>((resolve) => (stopping = () => ((stopped = true), resolve())));
    for (let attempt = 0; !stopped; attempt++) {
      let failed: (err: Error) => void = () => {};
      const failure = new Promise<Error>((resolve) => (failed = resolve));
      let stream: EventStream | undefined;
      try {
        const from = await streamEnd();
        let previous = from;
        let inFlight = 0;
        const publish = (subject: string, data: string, position: number, msgID?: string) => {
          const h = headers();
          h.set(headerNames.position, String(position));
          h.set(headerNames.previous, String(previous));
          if (++inFlight > maxInFlight) failed(new Error('NATS is not keeping up'));
          js.publish(subject, data, { headers: h, ...(msgID && { msgID }) }).then(
            () => inFlight--,
            (err: Error) => failed(err),
          );
        };
        stream = await streamEvents(url, sql, {
          from,
          onEvent: () => {},
          onChange: (c) => {
            publish(names.events(c.organization), lineOf(c), c.position, String(c.position));
            previous = c.position;
          },
          onWindow: (w: Window) => publish(names.windows, windowNote(previous, previous, w.looked, w.seen), previous),
          channels: { [channels.revoked]: (id) => publish(names.revoked, id, previous) },
          log,
        });
        if (attempt > 0) log.info({ from }, 'NATS relay running again');
        attempt = 0;
        const err = await Promise.race([failure, stop.then(() => undefined)]);
        if (err) throw err;
      } catch (err) {
        if (!stopped) log.warn({ err: (err as Error).message }, 'NATS relay stopped; starting over from the stream\'s end');
      } finally {
        await stream?.close();
      }
      if (!stopped) await Promise.race([stop, new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)))]);
    }
  };

  /** The position of the stream's last message; the log's end if the stream is empty. */
  const streamEnd = async (): Promise<number> => {
    const jsm = await nc.jetstreamManager();
    await ensureStream(jsm, names);
    const { state } = await jsm.streams.info(names.stream);
    if (state.messages > 0) {
      const last = await jsm.streams.getMessage(names.stream, { seq: state.last_seq });
      const position = Number(last.header.get(headerNames.position));
      if (Number.isSafeInteger(position)) return position;
    }
    return lastLogged(sql);
  };

  return {
    start() {
      running ??= run().finally(() => (running = undefined));
    },
    async stop() {
      stopping?.();
      await running;
    },
  };
}

/** A change as a NOTIFY line (sql/040_sequence.sql, parsed by src/events/listener.ts). */
export function lineOf(c: LoggedChange): string {
  if (c.data === null) return `${c.position} ${c.organization}`; // a resync_required, or a row gone: read from the log
  const line = `${c.position} ${c.organization} ${c.type} ${c.topic} ${c.data}${c.desk === null ? '' : `\t${c.desk}`}`;
  return line.length > maxLine ? `${c.position} ${c.organization}` : line;
}
