import { metrics } from '../metrics/registry.ts';
import { type DeskEvent, resyncFrame } from '../events/event.ts';
import type { Logger } from '../log.ts';
import type { ReplayFor } from '../topics/topics.ts';
import { type AgentSocket, closeCodes } from './agent.ts';

/**
 * Frames of an organization's events after `since`, up to `upto`, that the topics
 * take: every event published from the call on with a position past upto is live;
 * or 'resync'.
 */
export type Replay = (organization: string, since: number, to: ReplayFor) => Promise<{ frames: string[]; upto: number } | 'resync'>;

/** A resuming socket whose live frames pile up this high while its replay is read is closed (4008). */
const maxWaitingFrames = 10_000;

/** A resuming socket: live events wait here while its replay is read. */
interface CatchingUp {
  ws: AgentSocket;
  waiting: DeskEvent[];
  closed: boolean;
}

export interface Resuming {
  /** Replays what the client missed, then puts the socket live on its topics. */
  resume(ws: AgentSocket, organization: string, since: number): void;
  /** An event published live: resuming sockets whose topics take it keep it for after their replay. */
  published(e: DeskEvent): void;
  closed(ws: AgentSocket): void;
}

export interface ResumingOptions {
  replay: Replay;
  /** Whether a socket's topics take an event. */
  takes(ws: AgentSocket, e: DeskEvent): boolean;
  /** The socket holds its topics from now on. */
  live(ws: AgentSocket): void;
  log: Logger;
}

/**
 * Events published while a socket's replay is read wait for it; the replay reads
 * the log up to a position they were published to (`upto`). Both go out in order
 * before the socket goes live, in one go, each event once: ids only ever increase.
 */
export function createResuming(opts: ResumingOptions): Resuming {
  const catchingUp = new Map<string, Set<CatchingUp>>();
  return {
    resume(ws, organization, since) {
      const entry: CatchingUp = { ws, waiting: [], closed: false };
      const set = catchingUp.get(organization) ?? new Set();
      catchingUp.set(organization, set.add(entry));
      const done = () => {
        set.delete(entry);
        if (set.size === 0) catchingUp.delete(organization);
      };
      const a = ws.getUserData();
      opts.replay(organization, since, { topics: a.topics, agent: a.subject }).then(
        (replayed) => {
          done();
          if (entry.closed) return;
          ws.cork(() => {
            if (replayed === 'resync') ws.send(resyncFrame);
            else for (const f of replayed.frames) ws.send(f);
            const after = replayed === 'resync' ? since : replayed.upto;
            for (const e of entry.waiting) if (e.position > after) ws.send(e.frame);
            opts.live(ws);
          });
        },
        (err) => {
          done();
          opts.log.warn({ err }, 'replay failed; the client should resume again');
          if (!entry.closed) ws.end(1011, 'replay failed; resume again');
        },
      );
    },
    published(e) {
      for (const c of catchingUp.get(e.organization) ?? []) {
        if (c.closed || !opts.takes(c.ws, e)) continue;
        if (c.waiting.push(e) > maxWaitingFrames) {
          c.closed = true;
          metrics.slowConsumerCloses.inc();
          c.ws.end(closeCodes.tooFarBehind, 'too far behind; resume with since');
        }
      }
    },
    closed(ws) {
      for (const c of catchingUp.get(ws.getUserData().organization) ?? []) if (c.ws === ws) c.closed = true;
    },
  };
}
