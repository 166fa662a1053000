// The names several parts of deskwire must agree on, made here and nowhere else:
// what an organization and a room may be called, the uWS topics sockets listen
// on, the PostgreSQL channels, and the ids that limits and revocations count by.

/** 1-64 characters of A-Z a-z 0-9 _ . - : safe in a URL path, a topic and a NOTIFY line. */
export const organizationName = /^[A-Za-z0-9_.-]{1,64}$/;
export const organizationNameRule = 'must be 1-64 characters of A-Z a-z 0-9 _ . -';

/**
 * The uWS topics a gateway publishes on; a socket holds those its §9 topics need
 * (src/topics/). Each event goes to topics no socket holds two of, so it reaches
 * a socket once: a desk's events to `org/` and `desk/` (a socket with `org` holds
 * no `desk/`), a room's to its `room/`, a resync_required to `all/`, which every socket holds.
 */
export const uwsTopic = {
  organization: (organization: string) => `org/${organization}`,
  everyone: (organization: string) => `all/${organization}`,
  desk: (organization: string, desk: string) => `desk/${organization}/${desk}`,
  room: (organization: string, room: string) => `room/${organization}/${room}`,
};

/** A uuid as PostgreSQL writes one (lowercase): desk topics, delivery job payloads. */
export const uuidText = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A room's name (`room:<name>`, POST /api/rooms/<name>/events/); room_events holds the same CHECK. */
export const roomName = /^[A-Za-z0-9_.:-]{1,128}$/;
export const roomNameRule = 'must be 1-128 characters of A-Z a-z 0-9 _ . : -';

/** A room event's type; room_events' CHECK holds the same rule and list. */
export const roomEventType = /^[a-z][a-z0-9_.-]{0,63}$/;
/** Types deskwire's own frames have or will have (CONTRACT §6, §9, §11): no room event may pass as one. */
export const reservedEventTypes = [
  'new_message', 'update_message', 'update_helpdesk', 'resync_required', 'read_receipt',
  'subscribe', 'unsubscribe', 'subscribed', 'error',
  'presence_join', 'presence_leave', 'typing', 'typing_stop',
] as const;

/**
 * NOTIFY channels: the sequencer's events and, after each window's events, when its
 * commits happened (sql/040_sequence.sql); revoked API keys (sql/050_revocations.sql).
 */
export const channels = { events: 'deskwire_events', windows: 'deskwire_windows', revoked: 'deskwire_revoked' } as const;

/** What limits count against and revocations close: one API key, or one token subject of an organization. */
export const credentialId = {
  key: (keyId: string) => `key:${keyId}`,
  token: (organization: string, subject: string) => `token:${organization}:${subject}`,
};

/**
 * graphile-worker task identifiers of deskwire. sql/070_channels.sql adds the
 * delivery jobs under the same name: a batch of {"message": id}.
 */
export const jobs = {
  deliver: 'deskwire.deliver',
  prefix: 'deskwire.',
} as const;

/** Signed webhook headers, both ways (CONTRACT §10). */
export const webhookHeaders = {
  timestamp: 'deskwire-timestamp',
  signature: 'deskwire-signature',
  /** The message's uuid: a provider that gets a delivery twice (a retry after a lost answer) can tell. */
  idempotencyKey: 'idempotency-key',
} as const;
