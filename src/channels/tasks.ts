import type { JobHelpers, Task } from 'graphile-worker';
import type { Sql } from 'postgres';
import { jobs } from '../domain.ts';
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
  organization: string;
  kind: 'webhook' | 'echo';
  url: string | null;
  secret: string;
  status: string;
  body: string;
}

/**
 * The worker's task, deliver: one outgoing message to its channel (a webhook, or
 * the echo channel). Its job is keyed by the message, so there is one at a time.
 * Each attempt reads the message and the channel afresh, and does nothing once the
 * message is no longer `sending` (sent by an attempt whose answer was lost, or
 * changed by hand).
 */
export function channelTasks(sql: Sql, opts: TaskOptions): Record<string, Task> {
  const advance = (organization: string, message: string, status: string) =>
    sql`SELECT deskwire.advance_status(${organization}, ${message}, ${status})`;

  const deliver: Task = async (payload, helpers) => {
    const { message } = payload as { message: string };
    const [d] = await sql<Delivery[]>`
      SELECT h.organization, c.kind, c.url, c.secret, m.status, deskwire.outbound_body(m.id) AS body
      FROM messages m
      JOIN help_desks h ON h.id = m.help_desk_id
      JOIN channels c ON c.organization = h.organization
      WHERE m.id = ${message} AND m.type = 'sent'`;
    if (!d || d.status !== 'sending') return; // gone, channel removed, or already moved on
    if (d.kind === 'echo') {
      await echo(d.organization, message, helpers);
      return;
    }
    const outcome = await postSigned(d.url!, d.secret, d.body, message, opts, helpers.abortSignal);
    // A shutdown that cut the request short is no attempt of the provider's: retried whatever the count.
    const last = helpers.job.attempts >= opts.maxAttempts && !helpers.abortSignal?.aborted;
    if (outcome.result === 'sent') {
      await advance(d.organization, message, 'sent');
    } else if (outcome.result === 'failed' || last) {
      opts.log.warn({ message, organization: d.organization, attempt: helpers.job.attempts, answer: outcome.detail }, 'delivery failed; message marked failed');
      await advance(d.organization, message, 'failed');
    } else {
      // graphile-worker records the error and runs the job again after its backoff.
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
