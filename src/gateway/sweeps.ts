import { metrics } from '../metrics/registry.ts';
import { type AgentSocket, closeCodes } from './agent.ts';

/**
 * A socket over this much unsent data that has not drained since the last sweep
 * is closed with 4008: the client resumes with ?since= and loses nothing.
 */
const behindBytes = 1024 * 1024;
const backpressureSweepMs = 250;
/** How often sockets whose token has expired are looked for. */
const expirySweepMs = 10_000;

/** Closes sockets that outlived their token, or stopped reading. Returns the stop. */
export function startSweeps(sockets: Set<AgentSocket>): () => void {
  const expiry = setInterval(() => {
    const now = Date.now();
    for (const ws of sockets) {
      const { expiresAt } = ws.getUserData();
      if (expiresAt !== undefined && expiresAt <= now) ws.end(closeCodes.tokenExpired, 'token expired');
    }
  }, expirySweepMs);
  expiry.unref();

  // A socket that stopped reading is closed before it holds more than its share.
  const behind = setInterval(() => {
    for (const ws of sockets) {
      const agent = ws.getUserData();
      const buffered = ws.getBufferedAmount();
      if (buffered > behindBytes && agent.buffered > behindBytes && buffered >= agent.buffered) {
        metrics.slowConsumerCloses.inc();
        ws.end(closeCodes.tooFarBehind, 'too far behind; resume with since');
      }
      agent.buffered = buffered;
    }
  }, backpressureSweepMs);
  behind.unref();

  return () => {
    clearInterval(expiry);
    clearInterval(behind);
  };
}
