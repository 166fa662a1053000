import type { Topics } from '../topics/topics.ts';
import type { WebSocket } from './uws.ts';

/** What a socket carries: who opened it, for which organization, what it listens to, from where it resumes. */
export interface Agent {
  organization: string;
  /** The credential's subject: whose inbox `inbox` is. */
  subject: string;
  credential: string;
  expiresAt: number | undefined;
  /** The last event position the client saw, when it resumes. */
  since: number | undefined;
  /** Unsent bytes at the last backpressure sweep. */
  buffered: number;
  topics: Topics;
  /** The uWS topics it holds now (domain.ts uwsTopic); none until it goes live. */
  held: Set<string>;
  /** Live: its replay (if any) is sent and it holds its uWS topics. */
  live: boolean;
  closed: boolean;
  /** Its subscribe/unsubscribe frames, answered one after another (src/topics/control.ts). */
  control: { queue: Promise<void>; pending: number; frames: number; windowStart: number; strikes: number; strikesStart: number };
}

export type AgentSocket = WebSocket<Agent>;

export const closeCodes = { tokenExpired: 4001, revoked: 4003, tooFarBehind: 4008, badFrames: 1008 } as const;
// Closes are ws.end() outside any cork: uWS (v20.47) sends TCP's FIN after the close
// frame only then, and after a close frame it reads nothing but the FIN, so a corked
// end() left the connection open until its timeout for every client that waits for
// the server to close first (RFC 6455 §7.1.1).
