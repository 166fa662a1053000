import { bearer, type Authenticate } from '../auth/credentials.ts';
import { organizationTopic as topic } from '../domain.ts';
import { HttpError } from '../errors.ts';
import type { DeskEvent } from '../events/event.ts';
import type { Logger } from '../log.ts';
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
  /** Sends an event to every socket of its organization, and to no other. */
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
  log: Logger;
}

/** Agents have nothing to say over the socket; what they send is read and dropped. */
const maxClientFrameBytes = 4 * 1024;
/**
 * A safety net far above the 4008 sweep: past this, uWS closes the socket at once
 * (1006) rather than drop a frame for it, so a socket is never left open having missed one.
 */
const maxBackpressureBytes = 64 * 1024 * 1024;
/** Handshakes the kernel may queue for us (capped by net.core.somaxconn): a fleet reconnecting at once. */
const listenBacklog = 65535;

/**
 * The WebSocket side: ws://HOST:WS_PORT/ws/chat/<organization>/?token=…
 * The credential is checked in the upgrade (admission.ts), before the socket
 * exists; each socket then listens on its organization's topic, after a replay
 * if it resumes (resume.ts), and uWS's pub/sub does the fan-out.
 */
export function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const sockets = new Set<AgentSocket>();
  const admission = createAdmission(opts);
  const resuming = createResuming(opts.replay, opts.log);
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
      admission.admit(organization, credential, origin, from).then(
        (p) => {
          if (aborted) return;
          opened = undefined;
          res.cork(() => {
            res.upgrade<Agent>(
              { organization, credential: p.credential, expiresAt: p.expiresAt, since, buffered: 0 },
              key, protocol, extensions, context,
            );
          });
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
    // Never relayed: the seed echoed client frames to the group, so anyone could forge events.
    message() {},
    close(ws) {
      sockets.delete(ws);
      resuming.closed(ws);
      admission.closed(ws.getUserData().credential);
    },
  };

  app
    .ws('/ws/chat/:organization/', behavior)
    .ws('/ws/chat/:organization', behavior)
    .any('/*', (res) => reply(res, new HttpError('not_found', 'WebSocket endpoint is /ws/chat/<organization>/')));

  /** A socket just opened: live on its topic, or resuming. */
  function start(ws: AgentSocket) {
    const agent = ws.getUserData();
    if (agent.since === undefined) ws.subscribe(topic(agent.organization));
    else resuming.resume(ws, agent.organization, agent.since);
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
          app.publish(topic(e.organization), e.frame, false, false);
          resuming.published(e);
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
