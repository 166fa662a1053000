import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// Every metric deskwire exports (CONTRACT §12), defined once. The hot paths count
// per publish or per close, never per frame in a JavaScript loop.

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

let openSockets: () => number = () => 0;
/** Where deskwire_sockets_open reads from: the gateway's socket set. */
export function countSocketsWith(count: () => number): void {
  openSockets = count;
}

export const metrics = {
  socketsOpen: new Gauge({
    name: 'deskwire_sockets_open',
    help: 'WebSocket connections open on this process.',
    registers: [registry],
    collect() {
      this.set(openSockets());
    },
  }),
  framesSent: new Counter({
    name: 'deskwire_frames_sent_total',
    help: 'Event frames handed to sockets (a publish counts its subscribers).',
    registers: [registry],
  }),
  listenReconnects: new Counter({
    name: 'deskwire_listen_reconnects_total',
    help: 'Times the LISTEN connection was lost and made again.',
    registers: [registry],
  }),
  slowConsumerCloses: new Counter({
    name: 'deskwire_slow_consumer_closes_total',
    help: 'Sockets closed with 4008 for falling too far behind.',
    registers: [registry],
  }),
  httpDuration: new Histogram({
    name: 'deskwire_http_request_duration_seconds',
    help: 'REST requests by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  }),
};
