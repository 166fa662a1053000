// `npm run cli -- tail <org>`: an organization's live events, one line each, through
// the client package (so it resumes after restarts and drops like any client).
import WebSocket from 'ws';
import { connect, type DeskwireEvent, type WebSocketConstructor } from '../../client/src/index.ts';
import { mintToken } from '../auth/tokens.ts';

export interface TailOptions {
  organization: string;
  url: string;
  topics?: string[];
  since?: string;
  json: boolean;
  /** A token or key to use; without one, tokens are minted with JWT_SECRET (subject "cli-tail"), fresh for each connection. */
  token?: string;
  jwtSecret: string;
}

/** Runs until SIGINT or SIGTERM; then says where to resume. */
export async function tail(opts: TailOptions): Promise<void> {
  if (!opts.token && !opts.jwtSecret) throw new Error('tail needs --token <token or API key>, or JWT_SECRET to mint one');
  const connection = connect({
    url: opts.url,
    organization: opts.organization,
    topics: opts.topics,
    since: opts.since,
    token: opts.token ?? (() => mintToken(opts.jwtSecret, { org: opts.organization, sub: 'cli-tail', ttlSeconds: 3600 })),
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    onEvent: (e) => console.log(opts.json ? JSON.stringify(e) : line(e)),
    onResync: () => console.error('resync_required: events were missed that cannot be replayed; reload what you show'),
    onError: (e) => console.error(`refused: ${e.code}: ${e.message}`),
    onStatus: (status, d) => {
      if (status === 'open') console.error(`tailing ${opts.organization} (${connection?.topics.join(',') ?? 'org'}) at ${opts.url}`);
      if (status === 'reconnecting') console.error(`disconnected${d?.code ? ` (${d.code}${d.reason ? ` ${d.reason}` : ''})` : ''}; again in ${d?.retryInMs} ms`);
      if (status === 'closed' && d?.reason) console.error(`stopped: ${d.reason}`);
    },
  });
  await new Promise<void>((resolve) => {
    const stop = () => {
      connection.close();
      if (connection.lastId) console.error(`resume with --since ${connection.lastId}`);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** `  1042  new_message      a9c0e723  sent/sending   "hello"` */
export function line(e: DeskwireEvent): string {
  const head = `${e.id.padStart(6)}  ${(e.type === 'room' ? e.event : e.type).padEnd(16)} `;
  if (e.type === 'room') return `${head} room:${e.room}  ${JSON.stringify(e.data)}`;
  if (e.type === 'update_helpdesk') {
    const d = e.helpDesk;
    return `${head} ${d.uuid.slice(0, 8)}  ${d.client.name ?? d.client.phone ?? ''}${d.assignee ? `  assigned to ${d.assignee}` : ''}`;
  }
  const m = e.message;
  return `${head} ${m.help_desk.slice(0, 8)}  ${`${m.type}/${m.status}`.padEnd(16)} ${m.message !== null ? JSON.stringify(m.message) : ''}${m.file ? ` [${m.file}]` : ''}`;
}
