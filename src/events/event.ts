/** The event types the triggers in sql/030_notify.sql send. */
export const eventTypes = ['new_message', 'update_message', 'update_helpdesk'] as const;
export type EventType = (typeof eventTypes)[number];

/** One event for the sockets of one organization, ready to send. */
export interface DeskEvent {
  organization: string;
  type: EventType;
  /** The frame agents receive, as the seed sent it: {"type", "data": "<object as a JSON string>"}. */
  frame: string;
}

export const organizationName = /^[A-Za-z0-9_.-]{1,64}$/;

export function toFrame(type: EventType, data: unknown): string {
  return JSON.stringify({ type, data: JSON.stringify(data) });
}
