import type { Sql } from 'postgres';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { TooManyRequests, Unauthorized } from '../errors.ts';
import { credentialId } from '../domain.ts';
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

/** `from` is the caller's address: too many failures from it are refused unchecked. */
export type Authenticate = (credential: string | undefined, from: string) => Promise<Principal>;

const maxCredentialLength = 4096;

/**
 * Accepts an access token (JWT) or an API key; anything else is Unauthorized. An
 * address that keeps failing (guessing keys, each a database lookup) is answered
 * 429 without a check until a minute has passed.
 */
export function createAuthenticator(sql: Sql, jwtSecret: string, failuresPerMinute: number): Authenticate {
  const failures = new RateLimiterMemory({ points: failuresPerMinute, duration: 60 });
  const check = verify(sql, jwtSecret);
  return async (credential, from) => {
    const record = await failures.get(from);
    if (record && record.consumedPoints >= failuresPerMinute) {
      throw new TooManyRequests('too many failed authentications from this address', Math.max(1, Math.ceil(record.msBeforeNext / 1000)));
    }
    try {
      return await check(credential);
    } catch (err) {
      if (err instanceof Unauthorized) await failures.penalty(from);
      throw err;
    }
  };
}

/** Verified tokens kept (each until it expires): an HMAC per request was a good share of a request's CPU. */
const verifiedTokensKept = 10_000;

function verify(sql: Sql, jwtSecret: string): (credential: string | undefined) => Promise<Principal> {
  const verified = new Map<string, Principal>();
  // A fleet reconnecting at once brings each token many times before the first
  // check of it ends: they all wait for that one.
  const verifying = new Map<string, Promise<Principal>>();
  return async (credential) => {
    if (!credential) throw new Unauthorized('a token is required: Authorization: Bearer <token>');
    if (credential.length > maxCredentialLength) throw new Unauthorized('token is malformed');
    if (credential.startsWith(keyPrefix)) {
      const key = await findKey(sql, credential);
      if (!key) throw new Unauthorized('API key is unknown or revoked');
      return { organization: key.organization, subject: credentialId.key(key.id), credential: credentialId.key(key.id), expiresAt: undefined };
    }
    const known = verified.get(credential);
    if (known && known.expiresAt! > Date.now()) return known;
    let check = verifying.get(credential);
    if (!check) {
      check = verifyToken(jwtSecret, credential).then(
        (claims) => {
          const principal: Principal = {
            organization: claims.org,
            subject: claims.sub,
            credential: credentialId.token(claims.org, claims.sub),
            expiresAt: claims.exp * 1000,
          };
          // Oldest first out: a Map iterates in insertion order.
          if (verified.size >= verifiedTokensKept) verified.delete(verified.keys().next().value!);
          verified.set(credential, principal);
          return principal;
        },
        (err) => {
          const expired = (err as { code?: string }).code === 'ERR_JWT_EXPIRED';
          throw new Unauthorized(expired ? 'token has expired' : 'token is invalid');
        },
      );
      verifying.set(credential, check);
      void check.finally(() => verifying.delete(credential)).catch(() => {});
    }
    return check;
  };
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}
