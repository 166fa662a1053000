import { countSocketsWith } from '../metrics/registry.ts';
import { bearer, type Authenticate } from '../auth/credentials.ts';
import { HttpError } from '../errors.ts';
import type { DeskEvent } from '../events/event.ts';
import type { Logger } from '../log.ts';
import { checkDesks, createControl, type FindDesks } from '../topics/control.ts';
import type { LoadAssigned } from '../topics/inbox.ts';
import { createRouting } from '../topics/routing.ts';
import { type Topic, type Topics, topicsOfQuery } from '../topics/topics.ts';
import { createAdmission } from './admission.ts';
import type { Agent, AgentSocket } from './agent.ts';
import { raiseListenBacklog } from './backlog.ts';
import { reply } from './replies.ts';
import { createResuming, type Replay } from './resume.ts';
import { startSweeps } from './sweeps.ts';
import uWS, { type WebSocketBehavior, type us_listen_socket } from './uws.ts';

export { closeCodes } from './agent.ts';

export interface Gateway {
  port: number;
  /** Sends an event to the sockets of its organization whose topics take it, each once, and to no other. */
  publish(event: DeskEvent): void;
  /** Closes every socket opened with a credential (a revoked API key). */
  disconnect(credential: string, code: number, reason: string): void;
  close(): void;
}

export interface GatewayOptions {
  host: string;
  port: number;
  /** Seconds of silence before a ping; a peer that does not answer is closed. */
  idleTimeout: number;
  authenticate: Authenticate;
  /** Open sockets per credential; attempts are limited to as many per 10 s. */
  connectionsPerCredential: number;
  /** Origins allowed to open a browser socket; undefined: any. */
  allowedOrigins: string[] | undefined;
  replay: Replay;
  /** The position of the last event published: where a socket that must miss nothing while it starts replays from. */
  position(): number;
  findDesks: FindDesks;
  loadAssigned: LoadAssigned;
  /** Topics one socket may listen to (WS_TOPICS_PER_SOCKET). */
  maxTopics: number;
  log: Logger;
}

/** Agents say only subscribe and unsubscribe (src/topics/control.ts): room for a hundred desk topics. */
const maxClientFrameBytes = 16 * 1024;
/**
 * A safety net far above the 4008 sweep: past this, uWS closes the socket at once
 * (1006) rather than drop a frame for it, so a socket is never left open having missed one.
 */
const maxBackpressureBytes = 64 * 1024 * 1024;
/** Handshakes the kernel may queue for us (capped by net.core.somaxconn): a fleet reconnecting at once. */
const listenBacklog = 65535;

/**
 * The WebSocket side: ws://HOST:WS_PORT/ws/chat/<organization>/?token=…
 * The credential and the topics are checked in the upgrade (admission.ts,
 * src/topics/), before the socket exists; each socket then holds the uWS topics
 * its topics need, after a replay if it resumes (resume.ts), and uWS's pub/sub
 * does the fan-out.
 */
export function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const sockets = new Set<AgentSocket>();
  countSocketsWith(() => sockets.size);
  const admission = createAdmission(opts);
  const routing = createRouting(opts.loadAssigned, opts.log);
  const resuming = createResuming({ replay: opts.replay, takes: routing.takes, live: routing.live, log: opts.log });
  const control = createControl({ routing, findDesks: opts.findDesks, maxTopics: opts.maxTopics, log: opts.log });
  /** The socket `open` was last called with (see there). */
  let opened: AgentSocket | undefined;
  const app = uWS.App();

  const behavior: WebSocketBehavior<Agent> = {
    compression: uWS.DISABLED,
    maxPayloadLength: maxClientFrameBytes,
    maxBackpressure: maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: opts.idleTimeout,
    sendPingsAutomatically: true,
    upgrade(res, req, context) {
      // uWS's req is only valid until the first await: read everything now.
      const organization = req.getParameter(0) ?? '';
      const query = new URLSearchParams(req.getQuery() ?? '');
      const credential = query.get('token') ?? bearer(req.getHeader('authorization'));
      const sinceText = query.get('since');
      const origin = req.getHeader('origin');
      const from = Buffer.from(res.getRemoteAddressAsText()).toString();
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      let aborted = false;
      res.onAborted(() => (aborted = true));
      if (sinceText !== null && !/^\d{1,15}$/.test(sinceText)) {
        return reply(res, new HttpError('invalid_since', 'since must be the id of an event, as received'));
      }
      const since = sinceText === null ? undefined : Number(sinceText);
      let topics: Topics;
      let named: Topic[];
      try {
        ({ topics, named } = topicsOfQuery(query.get('topics'), opts.maxTopics));
      } catch (err) {
        return reply(res, err as HttpError);
      }
      admission.admit(organization, credential, origin, from).then(async (p) => {
        await checkDesks(opts.findDesks, organization, named);
        return p;
      }).then(
        (p) => {
          if (aborted) return;
          opened = undefined;
          const agent: Agent = {
            organization, subject: p.subject, credential: p.credential, expiresAt: p.expiresAt, since, buffered: 0,
            topics, held: new Set(), live: false, closed: false,
            control: { queue: Promise.resolve(), pending: 0, frames: 0, windowStart: 0, strikes: 0, strikesStart: 0 },
          };
          res.cork(() => res.upgrade<Agent>(agent, key, protocol, extensions, context));
          // Only now, with cork returned (see `open`), may the socket touch uWS's heap.
          const ws = opened as AgentSocket | undefined;
          if (ws && sockets.has(ws)) start(ws);
        },
        (err) => {
          if (aborted) return;
          const e = err instanceof HttpError ? err : new HttpError('unavailable', 'try again');
          if (!(err instanceof HttpError)) opts.log.warn({ err }, 'socket admission failed');
          reply(res, e);
        },
      );
    },
    // Runs inside res.upgrade, inside res.cork. uWS.js 20.30's cork, once its callback
    // returns, reads the HTTP response's state from memory the upgrade has just freed,
    // and closes the new socket if those bytes say "Connection: close" (fixed upstream
    // in uWebSockets v20.79.0; docs/uwebsockets.md). Anything here that allocates native
    // memory (ws.subscribe creating a topic did) can put such bytes there, so `open`
    // only records the socket: the upgrade callback starts it once cork has returned.
    open(ws) {
      sockets.add(ws);
      admission.opened(ws.getUserData().credential);
      opened = ws;
    },
    // Never relayed (the seed echoed client frames to the group, so anyone could
    // forge events): only subscribe and unsubscribe are read.
    message: (ws, data, isBinary) => control(ws, data, isBinary),
    close(ws) {
      sockets.delete(ws);
      routing.closed(ws);
      resuming.closed(ws);
      admission.closed(ws.getUserData().credential);
    },
  };

  app
    .ws('/ws/chat/:organization/', behavior)
    .ws('/ws/chat/:organization', behavior)
    .any('/*', (res) => reply(res, new HttpError('not_found', 'WebSocket endpoint is /ws/chat/<organization>/')));

  /**
   * A socket just opened: live on its topics, or resuming. An inbox is read from
   * the database first; meanwhile events go on, so a socket with one replays from
   * where the stream was at its open (usually nothing to read).
   */
  function start(ws: AgentSocket) {
    const agent = ws.getUserData();
    if (!agent.topics.inbox) {
      if (agent.since === undefined) routing.live(ws);
      else resuming.resume(ws, agent.organization, agent.since);
      return;
    }
    const since = agent.since ?? opts.position();
    routing.opened(ws).then(() => {
      if (!agent.closed) resuming.resume(ws, agent.organization, since);
    }, () => {});
  }

  const stopSweeps = startSweeps(sockets);

  return new Promise((resolve, reject) => {
    app.listen(opts.host, opts.port, (token: us_listen_socket | false) => {
      if (!token) return reject(new Error(`WebSocket server could not listen on ${opts.host}:${opts.port}`));
      const port = uWS.us_socket_local_port(token);
      if (raiseListenBacklog(port, listenBacklog) === undefined) {
        opts.log.warn({ port }, 'could not raise the WebSocket listen backlog past uSockets\' 512: a reconnect storm will take longer');
      }
      resolve({
        port,
        publish(e) {
          // Resuming sockets judge an event by their inbox before it moves.
          resuming.published(e);
          routing.publish(app, e);
        },
        disconnect(credential, code, reason) {
          for (const ws of sockets) if (ws.getUserData().credential === credential) ws.end(code, reason);
        },
        close() {
          stopSweeps();
          uWS.us_listen_socket_close(token);
          for (const ws of sockets) ws.end(1001, 'server shutting down');
        },
      });
    });
  });
}
