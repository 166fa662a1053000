import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far a signed request's timestamp may be from now, either way. */
export const signatureWindowSeconds = 300;

/** `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: what both sides of a channel sign with. */
export function sign(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export type Verdict = 'ok' | 'missing' | 'stale' | 'forged';

/**
 * Checks a request's timestamp header and signature header against its raw body.
 * The header may carry several comma-separated v1= values (a provider rotating
 * its secret); any one matching, compared in constant time, is enough.
 */
export function verify(secret: string, timestampHeader: string | undefined, signatureHeader: string | undefined, body: Buffer, nowSeconds = Math.floor(Date.now() / 1000)): Verdict {
  if (!timestampHeader || !signatureHeader || !/^\d{1,12}$/.test(timestampHeader)) return 'missing';
  const timestamp = Number(timestampHeader);
  if (Math.abs(nowSeconds - timestamp) > signatureWindowSeconds) return 'stale';
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
  for (const part of signatureHeader.split(',')) {
    const m = /^\s*v1=([0-9a-f]{64})\s*$/i.exec(part);
    if (m && timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected)) return 'ok';
  }
  return 'forged';
}
