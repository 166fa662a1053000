import type { DeskEvent } from '../events/event.ts';
import { organizationName } from '../events/event.ts';
import type { Logger } from '../log.ts';
import uWS, { type HttpResponse, type WebSocket, type WebSocketBehavior, type us_listen_socket } from './uws.ts';

interface Agent {
  organization: string;
}

export interface Gateway {
  port: number;
  /** Sends an event to every socket of its organization, and to no other. */
  publish(event: DeskEvent): void;
  connections(): number;
  close(): void;
}

export interface GatewayOptions {
  host: string;
  port: number;
  /** Seconds of silence before a ping; a peer that does not answer is closed. */
  idleTimeout: number;
  log: Logger;
}

/** Agents have nothing to say over the socket; what they send is read and dropped. */
const maxClientFrameBytes = 4 * 1024;
/** A socket this far behind is cut off rather than buffered without bound. */
const maxBackpressureBytes = 1024 * 1024;

const topic = (organization: string) => `org/${organization}`;

/**
 * The WebSocket side: ws://HOST:WS_PORT/ws/chat/<organization>/. Each socket
 * subscribes to its organization's topic; uWS's own pub/sub does the fan-out.
 */
export function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const sockets = new Set<WebSocket<Agent>>();
  const app = uWS.App();

  const behavior: WebSocketBehavior<Agent> = {
    compression: uWS.DISABLED,
    maxPayloadLength: maxClientFrameBytes,
    maxBackpressure: maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: opts.idleTimeout,
    sendPingsAutomatically: true,
    upgrade(res, req, context) {
      const organization = req.getParameter(0) ?? '';
      if (!organizationName.test(organization)) {
        return reply(res, '400 Bad Request', 'invalid_organization',
          'organization must be 1-64 characters of A-Z a-z 0-9 _ . -');
      }
      res.upgrade<Agent>(
        { organization },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open(ws) {
      sockets.add(ws);
      ws.subscribe(topic(ws.getUserData().organization));
    },
    // Never relayed: the seed echoed client frames to the group, so anyone could forge events.
    message() {},
    close(ws) {
      sockets.delete(ws);
    },
  };

  app
    .ws('/ws/chat/:organization/', behavior)
    .ws('/ws/chat/:organization', behavior)
    .any('/*', (res) => reply(res, '404 Not Found', 'not_found', 'WebSocket endpoint is /ws/chat/<organization>/'));

  return new Promise((resolve, reject) => {
    app.listen(opts.host, opts.port, (token: us_listen_socket | false) => {
      if (!token) return reject(new Error(`WebSocket server could not listen on ${opts.host}:${opts.port}`));
      resolve({
        port: uWS.us_socket_local_port(token),
        publish: (e) => void app.publish(topic(e.organization), e.frame, false, false),
        connections: () => sockets.size,
        close() {
          uWS.us_listen_socket_close(token);
          for (const ws of sockets) ws.end(1001, 'server shutting down');
        },
      });
    });
  });
}

function reply(res: HttpResponse, status: string, code: string, message: string): void {
  res.cork(() => {
    res
      .writeStatus(status)
      .writeHeader('content-type', 'application/json')
      .end(JSON.stringify({ error: { code, message } }));
  });
}
