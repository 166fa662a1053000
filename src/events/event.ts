/** One event for the sockets of one organization, ready to send. */
export interface DeskEvent {
  organization: string;
  /** The event's place in commit order: what clients resume from. */
  position: number;
  /** The frame agents receive: {"type", "data": "<object as a JSON string>", "id": "<position>"}. */
  frame: string;
}

/**
 * A change, as the sequencer sends it or the log renders it: its object's JSON in
 * data (NULL: the row is gone, or a resync_required), and for a message that is
 * now its desk's last, the desk's JSON: the update_helpdesk numbered right after it.
 */
export interface LoggedChange {
  position: number;
  organization: string;
  type: string;
  data: string | null;
  desk: string | null;
}

/** Tells a client its `since` is out of reach (or a bulk change was too large to send): reload over REST, then go on live. */
export const resyncFrame = JSON.stringify({ type: 'resync_required' });

/** The seed's frame: data is the object's JSON (made by PostgreSQL) as a string; id is the position. */
export function frameOf(type: string, data: string | null, position: number): string {
  if (data === null) return `{"type":"${type}","id":"${position}"}`;
  return `{"type":"${type}","data":${JSON.stringify(data)},"id":"${position}"}`;
}

/** The events of a change: its own (none if its row is gone) and its desk's. */
export function eventsOf(c: LoggedChange): DeskEvent[] {
  const events: DeskEvent[] = [];
  // A resync_required carries no object: the agent reloads over REST.
  if (c.type === 'resync_required') events.push({ organization: c.organization, position: c.position, frame: frameOf(c.type, null, c.position) });
  else if (c.data !== null) events.push({ organization: c.organization, position: c.position, frame: frameOf(c.type, c.data, c.position) });
  if (c.desk !== null) events.push({ organization: c.organization, position: c.position + 1, frame: frameOf('update_helpdesk', c.desk, c.position + 1) });
  return events;
}
