// Who is signed in: a token (or API key) and its organization, kept in localStorage.

export interface Session {
  token: string;
  organization: string;
  /** The agent: a token's `sub`; an API key's sockets are `key:<id>`, unknown here. */
  sub: string | null;
}

const key = 'deskwire.session';

/** The claims of a JWT, read without checking it (the server checks it). */
export function claims(token: string): { org?: string; sub?: string; exp?: number } | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(atob(parts[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { org?: string; sub?: string; exp?: number };
  } catch {
    return null;
  }
}

export function sessionOf(token: string, organization?: string): Session | null {
  const c = claims(token);
  const org = c?.org ?? organization;
  if (!org) return null;
  return { token, organization: org, sub: c?.sub ?? null };
}

export function loadSession(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(key) ?? 'null') as Session | null;
    const exp = s && claims(s.token)?.exp;
    return s && (!exp || exp * 1000 > Date.now()) ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) localStorage.setItem(key, JSON.stringify(s));
  else localStorage.removeItem(key);
}
