import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Authenticate, Principal } from '../auth/credentials.ts';
import { organizationName, organizationNameRule } from '../domain.ts';
import { Forbidden, HttpError, TooManyRequests } from '../errors.ts';

export interface AdmissionOptions {
  authenticate: Authenticate;
  /** Open sockets per credential; attempts are limited to as many per 10 s. */
  connectionsPerCredential: number;
  /** Origins allowed to open a browser socket; undefined: any. */
  allowedOrigins: string[] | undefined;
}

/** Who may open a socket, decided in the upgrade, before the socket exists. */
export interface Admission {
  /** The principal of an upgrade, or an HttpError to answer it with. */
  admit(organization: string, credential: string | undefined, origin: string, from: string): Promise<Principal>;
  opened(credential: string): void;
  closed(credential: string): void;
}

export function createAdmission(opts: AdmissionOptions): Admission {
  const perCredential = new Map<string, number>();
  const attempts = new RateLimiterMemory({ points: opts.connectionsPerCredential, duration: 10 });
  return {
    async admit(organization, credential, origin, from) {
      if (!organizationName.test(organization)) {
        throw new HttpError('invalid_organization', `organization ${organizationNameRule}`);
      }
      if (origin && opts.allowedOrigins && !opts.allowedOrigins.includes(origin)) {
        throw new Forbidden(`origin ${origin} may not open sockets here`);
      }
      const principal = await opts.authenticate(credential, from);
      if (principal.organization !== organization) {
        throw new Forbidden(`this token opens organization "${principal.organization}" only`);
      }
      const refused = await attempts.consume(principal.credential).then(() => false, () => true);
      if (refused || (perCredential.get(principal.credential) ?? 0) >= opts.connectionsPerCredential) {
        throw new TooManyRequests(`at most ${opts.connectionsPerCredential} sockets per credential`, 10);
      }
      return principal;
    },
    opened(credential) {
      perCredential.set(credential, (perCredential.get(credential) ?? 0) + 1);
    },
    closed(credential) {
      const left = (perCredential.get(credential) ?? 1) - 1;
      if (left > 0) perCredential.set(credential, left);
      else perCredential.delete(credential);
    },
  };
}
