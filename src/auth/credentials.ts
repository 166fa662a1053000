import type { Sql } from 'postgres';
import { Unauthorized } from '../errors.ts';
import { findKey, keyPrefix } from './keys.ts';
import { verifyToken } from './tokens.ts';

/** Who is asking, and for which organization: the only one its credential opens. */
export interface Principal {
  organization: string;
  subject: string;
  /** What limits count against: one access-token subject, or one API key. */
  credential: string;
  /** Milliseconds since the epoch; undefined for API keys, which last until revoked. */
  expiresAt: number | undefined;
}

export type Authenticate = (credential: string | undefined) => Promise<Principal>;

const maxCredentialLength = 4096;

/** Accepts an access token (JWT) or an API key; anything else is Unauthorized. */
export function createAuthenticator(sql: Sql, jwtSecret: string): Authenticate {
  return async (credential) => {
    if (!credential) throw new Unauthorized('a token is required: Authorization: Bearer <token>');
    if (credential.length > maxCredentialLength) throw new Unauthorized('token is malformed');
    if (credential.startsWith(keyPrefix)) {
      const key = await findKey(sql, credential);
      if (!key) throw new Unauthorized('API key is unknown or revoked');
      return { organization: key.organization, subject: `key:${key.id}`, credential: `key:${key.id}`, expiresAt: undefined };
    }
    let claims;
    try {
      claims = await verifyToken(jwtSecret, credential);
    } catch (err) {
      const expired = (err as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw new Unauthorized(expired ? 'token has expired' : 'token is invalid');
    }
    return {
      organization: claims.org,
      subject: claims.sub,
      credential: `token:${claims.org}:${claims.sub}`,
      expiresAt: claims.exp * 1000,
    };
  };
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}
