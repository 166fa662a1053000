import { RateLimiterMemory } from 'rate-limiter-flexible';
import { bearer, type Authenticate, type Principal } from '../auth/credentials.ts';
import { Forbidden, HttpError, renderError, TooManyRequests } from '../errors.ts';
import type { DeskEvent } from '../events/event.ts';
import { organizationName, organizationNameRule, organizationTopic as topic } from '../domain.ts';
import { resyncFrame } from '../events/event.ts';
import type { Logger } from '../log.ts';
import { raiseListenBacklog } from './backlog.ts';
import uWS, { type HttpResponse, type WebSocket, type WebSocketBehavior, type us_listen_socket } from './uws.ts';

interface Agent {
  organization: string;
  credential: string;
  expiresAt: number | undefined;
  /** The last event position the client saw, when it resumes. */
  since: number | undefined;
  /** Unsent bytes at the last backpressure sweep. */
  buffered: number;
}

/** A resuming socket: live events wait here while its replay is read. */
interface CatchingUp {
  ws: WebSocket<Agent>;
  waiting: DeskEvent[];
  closed: boolean;
}

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
  /**
   * Frames of an organization's events after `since`, up to `upto`: every event
   * published from the call on with a position past upto is live; or 'resync'.
   */
  replay(organization: string, since: number): Promise<{ frames: string[]; upto: number } | 'resync'>;
  log: Logger;
}

/** Agents have nothing to say over the socket; what they send is read and dropped. */
const maxClientFrameBytes = 4 * 1024;
/**
 * A socket over this much unsent data that has not drained since the last sweep
 * is closed with 4008: the client resumes with ?since= and loses nothing.
 */
const behindBytes = 1024 * 1024;
const backpressureSweepMs = 250;
/**
 * A safety net far above: past this, uWS closes the socket at once (1006) rather
 * than drop a frame for it, so a socket is never left open having missed one.
 */
const maxBackpressureBytes = 64 * 1024 * 1024;
/** A resuming socket whose live frames pile up this high while its replay is read. */
const maxWaitingFrames = 10_000;
/** Handshakes the kernel may queue for us (capped by net.core.somaxconn): a fleet reconnecting at once. */
const listenBacklog = 65535;
/** How often sockets whose token has expired are looked for. */
const expirySweepMs = 10_000;

export const closeCodes = { tokenExpired: 4001, revoked: 4003, tooFarBehind: 4008 } as const;
// Closes are ws.end() outside any cork: uWS (v20.47) sends TCP's FIN after the close
// frame only then, and after a close frame it reads nothing but the FIN, so a corked
// end() left the connection open until its timeout for every client that waits for
// the server to close first (RFC 6455 §7.1.1).

/**
 * The WebSocket side: ws://HOST:WS_PORT/ws/chat/<organization>/?token=…
 * The credential is checked in the upgrade, before the socket exists; each socket
 * then subscribes to its organization's topic, and uWS's pub/sub does the fan-out.
 */
export function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const sockets = new Set<WebSocket<Agent>>();
  const perCredential = new Map<string, number>();
  const attempts = new RateLimiterMemory({ points: opts.connectionsPerCredential, duration: 10 });
  const catchingUp = new Map<string, Set<CatchingUp>>();
  /** The socket `open` was last called with (see there). */
  let opened: WebSocket<Agent> | undefined;
  const app = uWS.App();

  async function admit(organization: string, credential: string | undefined, origin: string, from: string): Promise<Principal> {
    if (!organizationName.test(organization)) {
      throw new HttpError('invalid_organization', `organization ${organizationNameRule}`);
    }
    if (origin && opts.allowedOrigins && !opts.allowedOrigins.includes(origin)) {
      throw new Forbidden(`origin ${origin} may not open sockets here`);
    }
    const principal = await opts.authenticate(credential, from);
    if (principal.organization !== organization) {
      throw new Forbidden(`this token opens organization "${principal.organization}" only`);
    }
    const refused = await attempts.consume(principal.credential).then(() => false, () => true);
    if (refused || (perCredential.get(principal.credential) ?? 0) >= opts.connectionsPerCredential) {
      throw new TooManyRequests(`at most ${opts.connectionsPerCredential} sockets per credential`, 10);
    }
    return principal;
  }

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
      admit(organization, credential, origin, from).then(
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
          const ws = opened as WebSocket<Agent> | undefined;
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
      const agent = ws.getUserData();
      sockets.add(ws);
      perCredential.set(agent.credential, (perCredential.get(agent.credential) ?? 0) + 1);
      opened = ws;
    },
    // Never relayed: the seed echoed client frames to the group, so anyone could forge events.
    message() {},
    close(ws) {
      sockets.delete(ws);
      for (const c of catchingUp.get(ws.getUserData().organization) ?? []) if (c.ws === ws) c.closed = true;
      const { credential } = ws.getUserData();
      const left = (perCredential.get(credential) ?? 1) - 1;
      if (left > 0) perCredential.set(credential, left);
      else perCredential.delete(credential);
    },
  };

  app
    .ws('/ws/chat/:organization/', behavior)
    .ws('/ws/chat/:organization', behavior)
    .any('/*', (res) => reply(res, new HttpError('not_found', 'WebSocket endpoint is /ws/chat/<organization>/')));

  /** A socket just opened: live on its topic, or resuming. */
  function start(ws: WebSocket<Agent>) {
    const agent = ws.getUserData();
    if (agent.since === undefined) ws.subscribe(topic(agent.organization));
    else resume(ws, agent.organization, agent.since);
  }

  /**
   * Replays what the client missed, then puts it on the live topic. Events
   * published from now on wait in `waiting`; the replay reads the log up to a
   * position it was published to (`upto`). Both go out in order before the socket
   * subscribes, in one go, each event once: ids only ever increase.
   */
  function resume(ws: WebSocket<Agent>, organization: string, since: number) {
    const entry: CatchingUp = { ws, waiting: [], closed: false };
    const set = catchingUp.get(organization) ?? new Set();
    catchingUp.set(organization, set.add(entry));
    const done = () => {
      set.delete(entry);
      if (set.size === 0) catchingUp.delete(organization);
    };
    opts.replay(organization, since).then(
      (replayed) => {
        done();
        if (entry.closed) return;
        ws.cork(() => {
          if (replayed === 'resync') ws.send(resyncFrame);
          else for (const f of replayed.frames) ws.send(f);
          const after = replayed === 'resync' ? since : replayed.upto;
          for (const e of entry.waiting) if (e.position > after) ws.send(e.frame);
          ws.subscribe(topic(organization));
        });
      },
      (err) => {
        done();
        opts.log.warn({ err }, 'replay failed; the client should resume again');
        if (!entry.closed) ws.end(1011, 'replay failed; resume again');
      },
    );
  }

  // A socket lives no longer than its token.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const ws of sockets) {
      const { expiresAt } = ws.getUserData();
      if (expiresAt !== undefined && expiresAt <= now) ws.end(closeCodes.tokenExpired, 'token expired');
    }
  }, expirySweepMs);
  sweep.unref();

  // A socket that stopped reading is closed before it holds more than its share.
  const behind = setInterval(() => {
    for (const ws of sockets) {
      const agent = ws.getUserData();
      const buffered = ws.getBufferedAmount();
      if (buffered > behindBytes && agent.buffered > behindBytes && buffered >= agent.buffered) {
        ws.end(closeCodes.tooFarBehind, 'too far behind; resume with since');
      }
      agent.buffered = buffered;
    }
  }, backpressureSweepMs);
  behind.unref();

  const publish = (e: DeskEvent) => {
    app.publish(topic(e.organization), e.frame, false, false);
    for (const c of catchingUp.get(e.organization) ?? []) {
      if (c.waiting.push(e) > maxWaitingFrames && !c.closed) {
        c.closed = true;
        c.ws.end(closeCodes.tooFarBehind, 'too far behind; resume with since');
      }
    }
  };

  return new Promise((resolve, reject) => {
    app.listen(opts.host, opts.port, (token: us_listen_socket | false) => {
      if (!token) return reject(new Error(`WebSocket server could not listen on ${opts.host}:${opts.port}`));
      const port = uWS.us_socket_local_port(token);
      if (raiseListenBacklog(port, listenBacklog) === undefined) {
        opts.log.warn({ port }, 'could not raise the WebSocket listen backlog past uSockets\' 512: a reconnect storm will take longer');
      }
      resolve({
        port,
        publish,
        disconnect(credential, code, reason) {
          for (const ws of sockets) if (ws.getUserData().credential === credential) ws.end(code, reason);
        },
        close() {
          clearInterval(sweep);
          clearInterval(behind);
          uWS.us_listen_socket_close(token);
          for (const ws of sockets) ws.end(1001, 'server shutting down');
        },
      });
    });
  });
}

function reply(res: HttpResponse, e: HttpError): void {
  const answer = renderError(e);
  res.cork(() => {
    res.writeStatus(answer.statusLine);
    for (const [name, value] of Object.entries(answer.headers)) res.writeHeader(name, value);
    res.end(answer.body);
  });
}
