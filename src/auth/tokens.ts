import { SignJWT, jwtVerify } from 'jose';
import { z } from 'zod';
import { organizationName } from '../domain.ts';

/** Access tokens: JWTs signed HS256 with JWT_SECRET; claims org, sub, exp. */
const Claims = z.object({
  org: z.string().regex(organizationName),
  sub: z.string().min(1).max(200),
  exp: z.number().int(),
});
export type Claims = z.infer<typeof Claims>;

const keyOf = (secret: string) => new TextEncoder().encode(secret);

/**
 * Verifies signature, algorithm (HS256 only: `none` and every other algorithm are
 * refused), expiry, and the claims' shape. Throws on any failure.
 */
export async function verifyToken(secret: string, token: string): Promise<Claims> {
  const { payload } = await jwtVerify(token, keyOf(secret), {
    algorithms: ['HS256'],
    requiredClaims: ['exp', 'org', 'sub'],
  });
  return Claims.parse(payload);
}

export async function mintToken(secret: string, claims: { org: string; sub: string; ttlSeconds: number }): Promise<string> {
  return new SignJWT({ org: claims.org })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + claims.ttlSeconds)
    .sign(keyOf(secret));
}
