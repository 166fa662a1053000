// The names several parts of deskwire must agree on, made here and nowhere else:
// what an organization may be called, the topic its sockets listen on, the
// PostgreSQL channels, and the ids that limits and revocations count by.

/** 1-64 characters of A-Z a-z 0-9 _ . - : safe in a URL path, a topic and a NOTIFY line. */
export const organizationName = /^[A-Za-z0-9_.-]{1,64}$/;
export const organizationNameRule = 'must be 1-64 characters of A-Z a-z 0-9 _ . -';

/** The uWS topic every socket of an organization listens on. */
export const organizationTopic = (organization: string) => `org/${organization}`;

/** NOTIFY channels: the sequencer's events (sql/040_sequence.sql) and revoked API keys (sql/050_revocations.sql). */
export const channels = { events: 'deskwire', revoked: 'deskwire_revoked' } as const;

/** What limits count against and revocations close: one API key, or one token subject of an organization. */
export const credentialId = {
  key: (keyId: string) => `key:${keyId}`,
  token: (organization: string, subject: string) => `token:${organization}:${subject}`,
};
