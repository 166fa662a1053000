import type { components } from './api.ts';

export type Message = components['schemas']['Message'];
export type HelpDesk = components['schemas']['HelpDesk'];
export type ErrorCode = components['schemas']['ErrorFrame']['code'];

/** An event of the organization, with its `data` parsed. `id` is its place in the stream. */
export type DeskwireEvent =
  | { type: 'new_message' | 'update_message'; id: string; message: Message }
  | { type: 'update_helpdesk'; id: string; helpDesk: HelpDesk }
  | { type: 'room'; id: string; room: string; event: string; data: unknown };

/** What a frame is to the client: an event, or one of the socket's own answers. */
export type Frame =
  | { kind: 'event'; event: DeskwireEvent }
  | { kind: 'resync' }
  | { kind: 'subscribed'; topics: string[] }
  | { kind: 'error'; code: ErrorCode; message: string }
  | { kind: 'pong' }
  | { kind: 'unknown' };

/** Parses a server frame; frames of types it does not know are `unknown` (to ignore), as the protocol asks. */
export function parseFrame(text: string): Frame {
  const f = JSON.parse(text) as { type?: string; data?: string; id?: string; room?: string; topics?: string[]; code?: ErrorCode; message?: string };
  // A room frame first: its type is the publisher's, and may be any name deskwire does not reserve ("pong" too).
  if (typeof f.room === 'string' && typeof f.id === 'string' && typeof f.type === 'string') {
    return { kind: 'event', event: { type: 'room', id: f.id, room: f.room, event: f.type, data: JSON.parse(f.data ?? 'null') } };
  }
  switch (f.type) {
    case 'new_message':
    case 'update_message':
      return { kind: 'event', event: { type: f.type, id: f.id!, message: JSON.parse(f.data!) as Message } };
    case 'update_helpdesk':
      return { kind: 'event', event: { type: 'update_helpdesk', id: f.id!, helpDesk: JSON.parse(f.data!) as HelpDesk } };
    case 'resync_required':
      return { kind: 'resync' };
    case 'subscribed':
      return { kind: 'subscribed', topics: f.topics ?? [] };
    case 'error':
      return { kind: 'error', code: f.code!, message: f.message ?? '' };
    case 'pong':
      return { kind: 'pong' };
    default:
      return { kind: 'unknown' };
  }
}

/** Ids are decimal integers that only grow; compared as such (they outgrow 2^53 in theory, not in strings). */
export function isAfter(id: string, than: string | undefined): boolean {
  if (than === undefined) return true;
  return id.length !== than.length ? id.length > than.length : id > than;
}
