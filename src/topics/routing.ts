import { metrics } from '../metrics/registry.ts';
import { uwsTopic } from '../domain.ts';
import type { DeskEvent } from '../events/event.ts';
import type { Logger } from '../log.ts';
import type { AgentSocket } from '../gateway/agent.ts';
import type { TemplatedApp } from '../gateway/uws.ts';
import { createInboxes, type LoadAssigned } from './inbox.ts';
import { assigneeOf, takes } from './topics.ts';

/**
 * Events to uWS topics, and sockets onto the uWS topics their §9 topics need. The
 * fan-out stays uWS's: a desk topic is a uWS topic, and JavaScript touches a
 * socket only when its own subscriptions change (a subscribe frame, an inbox
 * gaining or losing a desk).
 */
export interface Routing {
  /** A socket opened: its inbox (if it listens to one) is read; resolves once it may go live. */
  opened(ws: AgentSocket): Promise<void>;
  /** Holds the uWS topics its topics need from now on (after its replay, if it resumes). */
  live(ws: AgentSocket): void;
  /** Its topics changed (a subscribe or unsubscribe frame): resolves once it holds the new ones. */
  changed(ws: AgentSocket, inboxBefore: boolean): Promise<void>;
  closed(ws: AgentSocket): void;
  /** Sends an event to the sockets whose topics take it, each once. */
  publish(app: TemplatedApp, e: DeskEvent): void;
  /** Whether a socket's topics take an event (a resuming socket's waiting events). */
  takes(ws: AgentSocket, e: DeskEvent): boolean;
}

export function createRouting(loadAssigned: LoadAssigned, log: Logger): Routing {
  const inboxes = createInboxes<AgentSocket>(loadAssigned, log);

  /** Holds exactly the uWS topics the socket's topics need now. */
  const sync = (ws: AgentSocket) => {
    const a = ws.getUserData();
    if (!a.live || a.closed) return;
    const o = a.organization;
    const want = new Set<string>([uwsTopic.everyone(o)]);
    if (a.topics.org) want.add(uwsTopic.organization(o));
    else {
      for (const d of a.topics.desks) want.add(uwsTopic.desk(o, d));
      if (a.topics.inbox) for (const d of inboxes.desks(o, a.subject)) want.add(uwsTopic.desk(o, d));
    }
    for (const r of a.topics.rooms) want.add(uwsTopic.room(o, r));
    for (const t of a.held) if (!want.has(t)) ws.unsubscribe(t);
    for (const t of want) if (!a.held.has(t)) ws.subscribe(t);
    a.held = want;
  };

  /** Its inbox gained a desk with this update_helpdesk: it gets the event, then the desk's events. */
  const gained = (ws: AgentSocket, topic: string, frame: string) => {
    const a = ws.getUserData();
    if (!a.live || a.closed || a.topics.org || a.held.has(topic)) return;
    ws.send(frame);
    ws.subscribe(topic);
    a.held.add(topic);
  };
  /** Its inbox lost a desk: after this update_helpdesk (sent already), nothing more of it. */
  const lost = (ws: AgentSocket, desk: string, topic: string) => {
    const a = ws.getUserData();
    if (!a.live || a.closed || a.topics.org || a.topics.desks.has(desk) || !a.held.delete(topic)) return;
    ws.unsubscribe(topic);
  };

  return {
    async opened(ws) {
      const a = ws.getUserData();
      if (a.topics.inbox) await inboxes.join(ws, a.organization, a.subject);
    },
    live(ws) {
      ws.getUserData().live = true;
      sync(ws);
    },
    async changed(ws, inboxBefore) {
      const a = ws.getUserData();
      if (a.topics.inbox && !inboxBefore) await inboxes.join(ws, a.organization, a.subject);
      if (!a.topics.inbox && inboxBefore) inboxes.leave(ws, a.organization, a.subject);
      sync(ws);
    },
    closed(ws) {
      const a = ws.getUserData();
      a.closed = true;
      if (a.topics.inbox) inboxes.leave(ws, a.organization, a.subject);
    },
    publish(app, e) {
      const o = e.organization;
      // Counted per publish (its subscribers), never per socket.
      const send = (topic: string) => {
        app.publish(topic, e.frame, false, false);
        metrics.framesSent.inc(app.numSubscribers(topic));
      };
      if (e.type === 'resync_required') {
        send(uwsTopic.everyone(o));
        return;
      }
      if (e.room !== undefined) {
        send(uwsTopic.room(o, e.room));
        return;
      }
      send(uwsTopic.organization(o));
      if (e.desk === undefined) return;
      const topic = uwsTopic.desk(o, e.desk);
      send(topic);
      if (e.type !== 'update_helpdesk' || !inboxes.following(o)) return;
      const moves = inboxes.assigned(o, e.desk, assigneeOf(e));
      if (!moves) return;
      for (const ws of moves.gained) gained(ws, topic, e.frame);
      for (const ws of moves.lost) lost(ws, e.desk, topic);
    },
    takes(ws, e) {
      const a = ws.getUserData();
      return takes(a.topics, a.subject, inboxes.desks(a.organization, a.subject), e);
    },
  };
}
