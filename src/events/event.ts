/** The event types the triggers in sql/030_events.sql write. */
export const eventTypes = ['new_message', 'update_message', 'update_helpdesk'] as const;
export type EventType = (typeof eventTypes)[number];

/** One event for the sockets of one organization, ready to send. */
export interface DeskEvent {
  organization: string;
  /** The event's place in commit order (events.position): what clients resume from. */
  position: number;
  type: EventType;
  /** The frame agents receive: {"type", "data": "<object as a JSON string>", "id": "<position>"}. */
  frame: string;
}

export const organizationName = /^[A-Za-z0-9_.-]{1,64}$/;

/** The seed's frame, with the event's position as an opaque string id. */
export function toFrame(type: EventType, data: unknown, position: number): string {
  return JSON.stringify({ type, data: JSON.stringify(data), id: String(position) });
}

/** Tells a resuming client its `since` is out of reach: reload over REST, then go on live. */
export const resyncFrame = JSON.stringify({ type: 'resync_required' });
