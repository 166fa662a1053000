import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import { type DeskEvent, type EventType, eventTypes, organizationName, toFrame } from './event.ts';

export const channel = 'deskwire';

/** An element of a NOTIFY payload: the object inline, or a reference when it was too large. */
interface Notified {
  org: string;
  type: EventType;
  data?: unknown;
  ref?: string;
}

export interface Listener {
  close(): Promise<void>;
}

/**
 * LISTENs on the `deskwire` channel over one connection and hands each event, in
 * the order PostgreSQL delivered them, to `onEvent`. Objects too large for a
 * NOTIFY arrive as references; they are read with the same SQL functions the
 * REST routes use, and the events after them wait, so the order holds.
 */
export async function listen(sql: Sql, onEvent: (e: DeskEvent) => void, log: Logger): Promise<Listener> {
  let queue: Promise<void> = Promise.resolve();
  let pending = 0;

  const deliver = async (items: Notified[]) => {
    for (const item of items) {
      const data = item.ref === undefined ? item.data : await read(sql, item.type, item.ref);
      if (data === undefined) {
        log.debug({ item }, 'referenced row is gone; event dropped');
        continue;
      }
      onEvent({ organization: item.org, type: item.type, frame: toFrame(item.type, data) });
    }
  };

  const onPayload = (payload: string) => {
    const items = parse(payload);
    if (!items) {
      log.warn({ payload: payload.slice(0, 200) }, 'ignored a malformed NOTIFY on the deskwire channel');
      return;
    }
    // The common case, small objects and nothing queued, goes out synchronously.
    if (pending === 0 && items.every((i) => i.ref === undefined)) {
      for (const i of items) onEvent({ organization: i.org, type: i.type, frame: toFrame(i.type, i.data) });
      return;
    }
    pending++;
    queue = queue
      .then(() => deliver(items))
      .catch((err) => log.error({ err }, 'could not read a referenced event'))
      .finally(() => pending--);
  };

  const { unlisten } = await sql.listen(channel, onPayload, () => log.debug({ channel }, 'listening'));
  return {
    async close() {
      await unlisten().catch(() => {}); // the connection may already be gone
      await queue;
    },
  };
}

async function read(sql: Sql, type: EventType, ref: string): Promise<unknown> {
  const rows =
    type === 'update_helpdesk'
      ? await sql`SELECT deskwire.help_desk_json(d) AS data FROM help_desks d WHERE d.id = ${ref}`
      : await sql`SELECT deskwire.message_json(m) AS data FROM messages m WHERE m.id = ${ref}`;
  return rows[0]?.data;
}

function parse(payload: string): Notified[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const valid = value.every(
    (i) =>
      typeof i === 'object' &&
      i !== null &&
      typeof i.org === 'string' &&
      organizationName.test(i.org) &&
      eventTypes.includes(i.type) &&
      (typeof i.ref === 'string' || (i.data !== undefined && i.data !== null)),
  );
  return valid ? (value as Notified[]) : undefined;
}
