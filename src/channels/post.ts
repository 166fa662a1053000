import { webhookHeaders } from '../domain.ts';
import { sign } from './signature.ts';

export interface PostLimits {
  /** The whole request, answer included. */
  timeoutMs: number;
  /** Of the answer's body read; the rest is dropped. */
  maxResponseBytes: number;
}

/**
 * What one delivery attempt came to: `sent` (2xx), `retry` (408, 429, 5xx, a
 * timeout, a refused or broken connection) or `failed` (any other answer: the
 * provider refused this message, and trying again would not change that).
 */
export type Outcome = { result: 'sent' | 'retry' | 'failed'; status?: number; detail: string };

/** Whether a channel URL may be posted to: http or https only, nothing else a URL can name. */
export function isWebhookUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

/**
 * POSTs a signed JSON body. Redirects are not followed: a provider names its final
 * URL. `stop` cuts the request short (a shutdown that would not wait any longer).
 */
export async function postSigned(url: string, secret: string, body: string, idempotencyKey: string, limits: PostLimits, stop?: AbortSignal): Promise<Outcome> {
  if (!isWebhookUrl(url)) return { result: 'failed', detail: 'the channel URL is not http(s)' };
  const timestamp = Math.floor(Date.now() / 1000);
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = stop ? AbortSignal.any([timeout, stop]) : timeout;
  try {
    const res = await fetch(url, {
      method: 'POST',
      body,
      redirect: 'manual',
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'deskwire',
        [webhookHeaders.timestamp]: String(timestamp),
        [webhookHeaders.signature]: sign(secret, timestamp, body),
        [webhookHeaders.idempotencyKey]: idempotencyKey,
      },
    });
    const text = await readSome(res, limits.maxResponseBytes);
    const detail = `${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
    if (res.status >= 200 && res.status < 300) return { result: 'sent', status: res.status, detail };
    if (res.status === 408 || res.status === 429 || res.status >= 500) return { result: 'retry', status: res.status, detail };
    return { result: 'failed', status: res.status, detail };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (stop?.aborted) return { result: 'retry', detail: 'cut short by the worker\'s shutdown' };
    if (timeout.aborted) return { result: 'retry', detail: `no answer within ${limits.timeoutMs} ms` };
    return { result: 'retry', detail: e.cause?.code ?? e.cause?.message ?? e.message };
  }
}

/** At most `max` bytes of an answer, as text; the rest is not read. */
async function readSome(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    void reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}
