/**
 * Whether this process should be sent traffic (GET /readyz): not while it starts
 * (the event stream has not read the log to its end), not while its stream is cut
 * from the database or catching up, and not once a SIGTERM has begun its drain, so
 * a load balancer stops sending new clients before the sockets are closed.
 */
export type ReadyState = 'ready' | 'starting' | 'catching_up' | 'draining';

export interface Readiness {
  state(): ReadyState;
}

export function createReadiness(): Readiness & { started(live: () => boolean): void; drain(): void } {
  let phase: 'starting' | 'running' | 'draining' = 'starting';
  let live = () => false;
  return {
    state() {
      if (phase !== 'running') return phase;
      return live() ? 'ready' : 'catching_up';
    },
    started(isLive) {
      live = isLive;
      if (phase === 'starting') phase = 'running';
    },
    drain() {
      phase = 'draining';
    },
  };
}

/** The answer of GET /readyz, on the REST port and the metrics port alike. */
export function readyAnswer(state: ReadyState): { status: number; body: string } {
  if (state === 'ready') return { status: 200, body: '{"status":"ready"}' };
  return { status: 503, body: JSON.stringify({ error: { code: 'unavailable', message: `not ready: ${state}` } }) };
}
