import type { JobHelpers, Task } from 'graphile-worker';
import type { Sql } from 'postgres';
import { uuidArray } from '../db/arrays.ts';
import { jobs, uuidText } from '../domain.ts';
import type { Logger } from '../log.ts';
import { postSigned, type PostLimits } from './post.ts';

export interface TaskOptions extends PostLimits {
  /** Attempts before a message that keeps failing to go out is marked failed. */
  maxAttempts: number;
  /** The echo channel's pauses: sent, then delivered, then read and the reply. */
  echoStepMs: number;
  log: Logger;
}

interface Delivery {
  message: string;
  organization: string;
  kind: 'webhook' | 'echo';
  url: string | null;
  secret: string;
  body: string;
}

/**
 * The worker's task, deliver: a batch of outgoing messages, each to its channel (a
 * webhook, or the echo channel), all at once. graphile-worker retries a batch with
 * the messages that failed only, so each message's attempts are the job's. Each
 * attempt claims the messages afresh (deskwire.claim_deliveries) and skips those no
 * longer `sending` (sent by an attempt whose answer was lost, or changed by hand)
 * or in another job's hands.
 */
export function channelTasks(sql: Sql, opts: TaskOptions): Record<string, Task> {
  const advance = (organization: string, message: string, status: string) =>
    sql`SELECT deskwire.advance_status(${organization}, ${message}, ${status})`;

  const deliver: Task = async (payload, helpers) => {
    const batch = Array.isArray(payload);
    const ids = (batch ? payload : [payload]).map((p) => (p as { message?: unknown } | null)?.message);
    const valid = [...new Set(ids.filter((id): id is string => typeof id === 'string' && uuidText.test(id.toLowerCase())))];
    const job = helpers.job.id;
    const claimed = await sql<Delivery[]>`SELECT * FROM deskwire.claim_deliveries(${job}::bigint, ${uuidArray(sql, valid)})`;
    const mine = new Map(claimed.map((d) => [d.message, d]));
    const settled = valid.filter((id) => !mine.has(id)); // not this job's to deliver: released if it held them
    const results = ids.map(async (id) => {
      const d = typeof id === 'string' ? mine.get(id) : undefined;
      if (!d) return;
      mine.delete(d.message); // a message listed twice is delivered once
      await deliverOne(d, helpers);
      settled.push(d.message);
    });
    await Promise.allSettled(results);
    if (settled.length > 0) await sql`SELECT deskwire.release_deliveries(${job}::bigint, ${uuidArray(sql, settled)})`;
    if (!batch) await results[0]; // a job from before batches: its failure is the job's
    return batch ? results : undefined;
  };

  /** One attempt: resolves once the message is settled (sent or failed), throws to retry it. */
  const deliverOne = async (d: Delivery, helpers: JobHelpers) => {
    if (d.kind === 'echo') return echo(d.organization, d.message, helpers);
    const outcome = await postSigned(d.url!, d.secret, d.body, d.message, opts, helpers.abortSignal);
    // A shutdown that cut the request short is no attempt of the provider's: retried whatever the count.
    const last = helpers.job.attempts >= opts.maxAttempts && !helpers.abortSignal?.aborted;
    if (outcome.result === 'sent') {
      await advance(d.organization, d.message, 'sent');
    } else if (outcome.result === 'failed' || last) {
      opts.log.warn({ message: d.message, organization: d.organization, attempt: helpers.job.attempts, answer: outcome.detail }, 'delivery failed; message marked failed');
      await advance(d.organization, d.message, 'failed');
    } else {
      // graphile-worker records the error and runs the message again after its backoff.
      throw new Error(`delivery attempt ${helpers.job.attempts} of ${opts.maxAttempts}: ${outcome.detail}`);
    }
  };

  /**
   * The seed's worker as a channel: sent, delivered, read, and the client's
   * "echo: <text>" reply. Each step is idempotent (statuses only move forward; the
   * reply is keyed like an inbound message), so a retried job repeats nothing.
   */
  const echo = async (organization: string, message: string, helpers: JobHelpers) => {
    await advance(organization, message, 'sent');
    await pause(opts.echoStepMs, helpers);
    await advance(organization, message, 'delivered');
    await pause(opts.echoStepMs, helpers);
    await advance(organization, message, 'read');
    await sql`SELECT deskwire.echo_reply(${organization}, ${message})`;
  };

  return { [jobs.deliver]: deliver };
}

/** A pause that a shutdown cuts short (the job is then retried from where it stands). */
function pause(ms: number, helpers: JobHelpers): Promise<void> {
  return new Promise((resolve, reject) => {
    const signal = helpers.abortSignal;
    if (signal?.aborted) return reject(new Error('worker shutting down'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(new Error('worker shutting down'));
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}
