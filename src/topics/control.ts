import { type ErrorCode, HttpError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type AgentSocket, closeCodes } from '../gateway/agent.ts';
import type { Routing } from './routing.ts';
import { addTopics, copyTopics, countTopics, listTopics, parseTopics, removeTopics, type Topic, tooManyTopics } from './topics.ts';

/** Which of these desks are help desks of the organization. */
export type FindDesks = (organization: string, desks: string[]) => Promise<string[]>;

/** Frames answered with `error` before a socket is closed (closeCodes.badFrames), within strikeWindowMs. */
const maxStrikes = 10;
const strikeWindowMs = 60_000;
/** subscribe/unsubscribe frames a socket may send per frameWindowMs, and have waiting for an answer. */
const maxFrames = 60;
const frameWindowMs = 10_000;
const maxPending = 8;
const pong = '{"type":"pong"}';

export interface ControlOptions {
  routing: Routing;
  findDesks: FindDesks;
  maxTopics: number;
  log: Logger;
}

/** Desks named by these topics that the organization does not have: a not_found, as REST answers. */
export async function checkDesks(findDesks: FindDesks, organization: string, list: Topic[]): Promise<void> {
  const desks = list.flatMap((t) => (t.kind === 'desk' ? [t.desk] : []));
  if (desks.length === 0) return;
  const found = new Set(await findDesks(organization, desks));
  const missing = desks.find((d) => !found.has(d));
  if (missing) throw new HttpError('not_found', `desk:${missing} is not a help desk of ${organization}`);
}

/**
 * What a client may say on its socket: {"type": "subscribe" | "unsubscribe",
 * "topics": [...]}, answered {"type": "subscribed", "topics": [the whole set]} or
 * {"type": "error", "code", "message"}; and {"type": "ping"}, answered {"type":
 * "pong"} (browsers cannot send ping frames, and a client must tell a dead
 * connection from a quiet one). Nothing a client sends is relayed. A socket that
 * keeps sending frames that earn an error is closed.
 */
export function createControl(opts: ControlOptions): (ws: AgentSocket, data: ArrayBuffer, isBinary: boolean) => void {
  const refuse = (ws: AgentSocket, code: ErrorCode, message: string) => {
    const a = ws.getUserData();
    if (a.closed) return;
    ws.send(JSON.stringify({ type: 'error', code, message }));
    const c = a.control;
    const now = Date.now();
    if (now - c.strikesStart > strikeWindowMs) {
      c.strikes = 0;
      c.strikesStart = now;
    }
    // Closed outside the message callback's cork (agent.ts says why).
    if (++c.strikes >= maxStrikes) setImmediate(() => !a.closed && ws.end(closeCodes.badFrames, 'too many bad frames'));
  };

  const apply = async (ws: AgentSocket, type: 'subscribe' | 'unsubscribe', list: Topic[]) => {
    const a = ws.getUserData();
    const inboxBefore = a.topics.inbox;
    if (type === 'unsubscribe') removeTopics(a.topics, list);
    else {
      const next = copyTopics(a.topics);
      addTopics(next, list);
      if (countTopics(next) > opts.maxTopics) throw tooManyTopics(opts.maxTopics);
      await checkDesks(opts.findDesks, a.organization, list.filter((t) => t.kind !== 'desk' || !a.topics.desks.has(t.desk)));
      if (a.closed) return;
      a.topics = next;
    }
    await opts.routing.changed(ws, inboxBefore);
    if (!a.closed) ws.send(JSON.stringify({ type: 'subscribed', topics: listTopics(a.topics) }));
  };

  return (ws, data, isBinary) => {
    const a = ws.getUserData();
    if (isBinary) return refuse(ws, 'invalid_frame', 'frames are JSON text');
    let frame: { type?: unknown; topics?: unknown };
    try {
      frame = JSON.parse(Buffer.from(data).toString('utf8')) as typeof frame;
    } catch {
      return refuse(ws, 'invalid_frame', 'a frame is a JSON object: {"type": "subscribe" | "unsubscribe", "topics": [...]}');
    }
    if (frame === null || typeof frame !== 'object' || (frame.type !== 'subscribe' && frame.type !== 'unsubscribe' && frame.type !== 'ping')) {
      return refuse(ws, 'invalid_frame', 'a client sends only subscribe, unsubscribe and ping frames');
    }
    if (frame.type !== 'ping' && !Array.isArray(frame.topics)) return refuse(ws, 'invalid_frame', `${frame.type}: topics must be an array`);
    const c = a.control;
    const now = Date.now();
    if (now - c.windowStart > frameWindowMs) {
      c.frames = 0;
      c.windowStart = now;
    }
    if (++c.frames > maxFrames || c.pending >= maxPending) {
      return refuse(ws, 'too_many_requests', `at most ${maxFrames} frames per ${frameWindowMs / 1000} s`);
    }
    if (frame.type === 'ping') {
      // After the answers to the frames before it, like every answer.
      c.queue = c.queue.then(() => void (!a.closed && ws.send(pong)));
      return;
    }
    let list: Topic[];
    try {
      list = parseTopics(frame.topics as unknown[]);
    } catch (err) {
      return refuse(ws, (err as HttpError).code, (err as HttpError).message);
    }
    const type = frame.type;
    c.pending++;
    c.queue = c.queue
      .then(() => apply(ws, type, list))
      .catch((err) => {
        if (err instanceof HttpError) return refuse(ws, err.code, err.message);
        opts.log.warn({ err }, 'a subscribe frame failed');
        refuse(ws, 'unavailable', 'try again');
      })
      .finally(() => c.pending--);
  };
}
