import { type DeskwireEvent, type ErrorCode, isAfter, parseFrame } from './events.ts';

/** The part of the WebSocket API the client uses: the browser's, or Node's `ws`. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type Status = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectOptions {
  /** The WebSocket base URL: `ws://host:WS_PORT`. */
  url: string;
  organization: string;
  /** A token or API key; a function is called before every connection (return a fresh token when the old one expires). */
  token: string | (() => string | Promise<string>);
  /** Topics (`org` by default): `org`, `desk:<uuid>`, `inbox`, `room:<name>`. */
  topics?: string[];
  /** Resume after this event id. */
  since?: string;
  /** Every event, in order, once. */
  onEvent?: (event: DeskwireEvent) => void;
  /**
   * The events since the last id cannot be replayed (resync_required, or a reconnection
   * before any event was seen): reload what the app shows over REST. Live events follow.
   */
  onResync?: () => void;
  onStatus?: (status: Status, detail?: { code?: number; reason?: string; retryInMs?: number }) => void;
  /** A frame this client sent was refused (a bad topic, say). */
  onError?: (error: { code: ErrorCode; message: string }) => void;
  /** Browsers have WebSocket; in Node 20 pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** A ping this often; a connection silent for this long again is taken for dead. */
  heartbeatMs?: number;
  /** Reconnection delays: doubled from minMs up to maxMs, each with up to half of it taken off at random. */
  backoff?: { minMs?: number; maxMs?: number };
}

export interface Connection {
  /** The id of the last event delivered: what a reconnection resumes after. */
  readonly lastId: string | undefined;
  readonly status: Status;
  readonly topics: string[];
  subscribe(topics: string[]): void;
  unsubscribe(topics: string[]): void;
  close(): void;
}

/** Closes that mean "stop": a revoked key, a client breaking the protocol. */
const fatal = new Map([
  [4003, 'the API key was revoked'],
  [1008, 'the server closed the socket for bad frames'],
]);
const tokenExpired = 4001;

/**
 * A socket to an organization that resumes itself: on any close it reconnects with
 * a backoff and jitter, with `since` = the last id it delivered, so a restart of the
 * server, a dropped connection or a 4008 loses nothing and repeats nothing.
 */
export function connect(opts: ConnectOptions): Connection {
  const Socket = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Socket) throw new Error('no WebSocket here: pass one (in Node 20, `import WebSocket from \'ws\'`)');
  const heartbeatMs = opts.heartbeatMs ?? 25_000;
  const minMs = opts.backoff?.minMs ?? 500;
  const maxMs = opts.backoff?.maxMs ?? 30_000;
  const topics = new Set(opts.topics ?? ['org']);
  let lastId = opts.since;
  let status: Status = 'connecting';
  let ws: WebSocketLike | undefined;
  let failures = 0;
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let heardAt = 0;
  let opened = false;

  const setStatus = (s: Status, detail?: { code?: number; reason?: string; retryInMs?: number }) => {
    status = s;
    opts.onStatus?.(s, detail);
  };

  const open = async () => {
    retry = undefined;
    let token: string;
    try {
      token = typeof opts.token === 'function' ? await opts.token() : opts.token;
    } catch (err) {
      return again({ reason: `getting a token failed: ${(err as Error).message}` });
    }
    if (stopped) return;
    const query = new URLSearchParams({ token, topics: [...topics].join(',') });
    if (lastId !== undefined) query.set('since', lastId);
    const socket = new Socket(`${opts.url.replace(/\/$/, '')}/ws/chat/${encodeURIComponent(opts.organization)}/?${query}`);
    ws = socket;
    socket.onopen = () => {
      heardAt = Date.now();
      // Back without having seen an event: there is no id to resume after, so what
      // happened meanwhile is unknown to it. The app reloads, as for resync_required.
      if (opened && lastId === undefined) opts.onResync?.();
      opened = true;
      setStatus('open');
      heartbeat = setInterval(() => {
        if (Date.now() - heardAt > 2 * heartbeatMs) return drop(socket, { reason: 'no answer to pings' });
        socket.send('{"type":"ping"}');
      }, heartbeatMs);
    };
    socket.onmessage = (m) => {
      heardAt = Date.now();
      failures = 0;
      const frame = parseFrame(String(m.data));
      if (frame.kind === 'event') {
        if (!isAfter(frame.event.id, lastId)) return; // already delivered
        lastId = frame.event.id;
        opts.onEvent?.(frame.event);
      } else if (frame.kind === 'resync') {
        lastId = undefined; // what it had is no place to resume from: the events that follow are new
        opts.onResync?.();
      }
      else if (frame.kind === 'error') opts.onError?.({ code: frame.code, message: frame.message });
    };
    socket.onerror = () => {}; // a close follows
    socket.onclose = (e) => drop(socket, { code: e.code, reason: e.reason });
  };

  /** Stops listening to the current socket and closes it if it is not closed yet. */
  const release = (socket: WebSocketLike, code?: number, reason?: string) => {
    ws = undefined;
    clearInterval(heartbeat);
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.onerror = () => {};
    if (socket.readyState <= 1) socket.close(code, reason);
  };

  /** Lets go of a socket (closed, or taken for dead) and reconnects unless told to stop. */
  const drop = (socket: WebSocketLike, detail: { code?: number; reason?: string }) => {
    if (socket !== ws) return;
    release(socket);
    if (stopped) return;
    const why = detail.code !== undefined ? fatal.get(detail.code) : undefined;
    if (why) {
      stopped = true;
      return setStatus('closed', { ...detail, reason: detail.reason || why });
    }
    if (detail.code === tokenExpired) failures = 0; // not the server's trouble: straight back, with a fresh token
    again(detail);
  };

  const again = (detail: { code?: number; reason?: string }) => {
    if (stopped) return;
    const ceiling = Math.min(maxMs, minMs * 2 ** failures++);
    const delay = detail.code === tokenExpired ? 0 : Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    setStatus('reconnecting', { ...detail, retryInMs: delay });
    retry = setTimeout(open, delay);
  };

  const control = (type: 'subscribe' | 'unsubscribe', list: string[]) => {
    for (const t of list) type === 'subscribe' ? topics.add(t) : topics.delete(t);
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type, topics: list }));
  };

  setStatus('connecting');
  void open();
  return {
    get lastId() {
      return lastId;
    },
    get status() {
      return status;
    },
    get topics() {
      return [...topics];
    },
    subscribe: (list) => control('subscribe', list),
    unsubscribe: (list) => control('unsubscribe', list),
    close() {
      stopped = true;
      clearTimeout(retry);
      if (ws) release(ws, 1000, 'bye');
      setStatus('closed');
    },
  };
}
