import { connect, DiscardPolicy, type JetStreamManager, type NatsConnection, nanos, StorageType } from 'nats';
import type { Logger } from '../log.ts';
import type { NatsNames } from './names.ts';

/**
 * A NATS connection that reconnects for good. NATS only carries the live stream:
 * the database's log is the source of truth, read after every reconnect, so the
 * stream keeps minutes, not days, and has a size cap.
 */
export async function connectNats(url: string, name: string, log: Logger): Promise<NatsConnection> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 2000, pingInterval: 5000 });
    } catch (err) {
      if (attempt === 0) log.warn({ err: (err as Error).message, url }, 'cannot reach NATS; retrying');
      await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
    }
  }
}

const streamConfig = (names: NatsNames) => ({
  name: names.stream,
  subjects: [names.all],
  storage: StorageType.File,
  discard: DiscardPolicy.Old,
  max_age: nanos(15 * 60_000),
  max_bytes: 1024 ** 3,
  duplicate_window: nanos(2 * 60_000),
});

/** Makes the database's stream if it is not there (every process may; the first wins). */
export async function ensureStream(jsm: JetStreamManager, names: NatsNames): Promise<void> {
  try {
    await jsm.streams.info(names.stream);
  } catch {
    await jsm.streams.add(streamConfig(names)).catch(async (err) => {
      // Made by another process meanwhile.
      await jsm.streams.info(names.stream).catch(() => Promise.reject(err));
    });
  }
}
