/** One event for the sockets of one organization, ready to send. */
export interface DeskEvent {
  organization: string;
  /** The event's place in commit order: what clients resume from. */
  position: number;
  type: string;
  /** The help desk of a desk event (new_message, update_message, update_helpdesk). */
  desk?: string;
  /** The room of a room event, and the room event's uuid (what a publisher waits for). */
  room?: string;
  ref?: string;
  /** The object's JSON (update_helpdesk: its assignee moves inboxes). */
  data: string | null;
  /** The frame agents receive: {"type", "data": "<object as a JSON string>", "id": "<position>"[, "room"]}. */
  frame: string;
}

/**
 * A change, as the sequencer sends it or the log renders it: its object's JSON in
 * data (NULL: the row is gone, or a resync_required), its topic field (the desk's
 * uuid, "<room event uuid>/<room>", or "-"), and for a message that is now its
 * desk's last, the desk's JSON: the update_helpdesk numbered right after it.
 */
export interface LoggedChange {
  position: number;
  organization: string;
  type: string;
  topic: string;
  data: string | null;
  desk: string | null;
}

/** Tells a client its `since` is out of reach (or a bulk change was too large to send): reload over REST, then go on live. */
export const resyncFrame = JSON.stringify({ type: 'resync_required' });

/** The seed's frame: data is the object's JSON (made by PostgreSQL) as a string; id is the position. */
export function frameOf(type: string, data: string | null, position: number, room?: string): string {
  if (data === null) return `{"type":"${type}","id":"${position}"}`;
  const tail = room === undefined ? '' : `,"room":"${room}"`; // a room name needs no escaping (roomName)
  return `{"type":"${type}","data":${JSON.stringify(data)},"id":"${position}"${tail}}`;
}

/** The events of a change: its own (none if its row is gone) and its desk's. */
export function eventsOf(c: LoggedChange): DeskEvent[] {
  const { organization, position, type } = c;
  // A resync_required carries no object: the agent reloads over REST.
  if (type === 'resync_required') return [{ organization, position, type, data: null, frame: frameOf(type, null, position) }];
  const slash = c.topic.indexOf('/');
  if (slash >= 0) {
    if (c.data === null) return [];
    const room = c.topic.slice(slash + 1);
    return [{ organization, position, type, room, ref: c.topic.slice(0, slash), data: c.data, frame: frameOf(type, c.data, position, room) }];
  }
  const desk = c.topic === '-' ? undefined : c.topic;
  const events: DeskEvent[] = [];
  if (c.data !== null) events.push({ organization, position, type, desk, data: c.data, frame: frameOf(type, c.data, position) });
  if (c.desk !== null) {
    events.push({ organization, position: position + 1, type: 'update_helpdesk', desk, data: c.desk, frame: frameOf('update_helpdesk', c.desk, position + 1) });
  }
  return events;
}
