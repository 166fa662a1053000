import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// Every metric deskwire exports (CONTRACT §12), defined once. The hot paths count
// per publish or per close, never per frame in a JavaScript loop.

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** In a gateway worker (WORKERS > 1): answer the primary's scrapes, which it sums over the workers. */
export function reportToPrimary(): void {
  new AggregatorRegistry(); // installs the worker's side of the exchange
  AggregatorRegistry.setRegistries([registry]);
}

let openSockets: () => number = () => 0;
/** Where deskwire_sockets_open reads from: the gateway's socket set. */
export function countSocketsWith(count: () => number): void {
  openSockets = count;
}

let sequencerLag: () => Promise<number | undefined> = async () => undefined;
/** Where deskwire_sequencer_lag_seconds reads from: the database, at each scrape. */
export function measureSequencerLagWith(measure: () => Promise<number | undefined>): void {
  sequencerLag = measure;
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
  commitToPublish: new Histogram({
    name: 'deskwire_commit_to_publish_seconds',
    help: "From an event's commit to its publish to this process's sockets (src/metrics/windows.ts).",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  }),
  windowEvents: new Histogram({
    name: 'deskwire_sequencer_window_events',
    help: 'Events per sequencer window, as this process received them.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096],
    registers: [registry],
  }),
  sequencerLag: new Gauge({
    name: 'deskwire_sequencer_lag_seconds',
    help: 'How long the oldest change not yet numbered by the sequencer has waited (0: none); grows while no sequencer works.',
    registers: [registry],
    aggregator: 'max', // every worker reads the same database
    async collect() {
      const lag = await sequencerLag();
      if (lag !== undefined) this.set(lag);
    },
  }),
  sequencerLeader: new Gauge({
    name: 'deskwire_sequencer_leader',
    help: "1 while this process's sequencer is the one at work (one per database), 0 while it stands by.",
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
