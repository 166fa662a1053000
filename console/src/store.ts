// The console's state, as signals, and what changes it: REST loads and live events
// (through the client package, which resumes after any drop or restart).
import { computed, signal } from '@preact/signals';
import { connect, type Connection, type DeskwireEvent, type HelpDesk, type Message, rest, type RestClient, type Status } from '../../client/src/index.ts';
import { restUrl, wsUrl } from './config.ts';
import type { Session } from './session.ts';

export const desks = signal<ReadonlyMap<string, HelpDesk>>(new Map());
/** Loaded history per desk, oldest first; `complete` once the first message is loaded. */
export const histories = signal<ReadonlyMap<string, { messages: Message[]; complete: boolean }>>(new Map());
export const selected = signal<string | null>(null);
export const status = signal<Status>('connecting');
export const filter = signal<'all' | 'mine'>('all');
export const loadError = signal<string | null>(null);
/** Per desk, the created_at of the last message the agent has seen. */
export const seen = signal<Record<string, string>>(JSON.parse(localStorage.getItem('deskwire.seen') ?? '{}') as Record<string, string>);

let api: RestClient | undefined;
let live: Connection | undefined;
let me: Session | undefined;
const pageSize = 50;

const lastAt = (d: HelpDesk) => ('created_at' in d.last_message ? d.last_message.created_at : d.created_at);
export const lastMessage = (d: HelpDesk): Message | null => ('uuid' in d.last_message ? (d.last_message as Message) : null);

/** Desks by last activity, newest first; "mine": assigned to the signed-in agent. */
export const shown = computed(() =>
  [...desks.value.values()]
    .filter((d) => filter.value === 'all' || (me?.sub != null && d.assignee === me.sub))
    .sort((a, b) => (lastAt(a) < lastAt(b) ? 1 : lastAt(a) > lastAt(b) ? -1 : 0)),
);

export function unread(d: HelpDesk): boolean {
  const m = lastMessage(d);
  return m !== null && m.type === 'received' && m.created_at > (seen.value[d.uuid] ?? '');
}

export function markSeen(d: HelpDesk): void {
  const m = lastMessage(d);
  if (!m || seen.value[d.uuid] === m.created_at) return;
  seen.value = { ...seen.value, [d.uuid]: m.created_at };
  localStorage.setItem('deskwire.seen', JSON.stringify(seen.value));
}

export function restClient(): RestClient {
  return api!;
}

/** Starts a session: desks over REST, then live events. */
export async function start(session: Session): Promise<void> {
  me = session;
  api = rest({ url: restUrl, token: session.token });
  live = connect({
    url: wsUrl,
    organization: session.organization,
    token: session.token,
    onEvent: apply,
    onResync: () => void reload(),
    onStatus: (s) => (status.value = s),
  });
  await reload();
}

export function stop(): void {
  clearTimeout(retry);
  meanwhile = undefined;
  live?.close();
  live = undefined;
  api = undefined;
  desks.value = new Map();
  histories.value = new Map();
  selected.value = null;
}

let retry: ReturnType<typeof setTimeout> | undefined;
/** While a reload reads its snapshot: the events received meanwhile. */
let meanwhile: DeskwireEvent[] | undefined;

/** Desks (and the open desk's history) afresh; tried again every 2 s while deskwire cannot answer. */
async function reload(): Promise<void> {
  clearTimeout(retry);
  const client = api;
  // Events that arrive while the snapshot is read may be newer than it: kept, and applied over it.
  const during: DeskwireEvent[] = [];
  meanwhile = during;
  let answer;
  try {
    answer = await client!.GET('/api/help-desks/');
  } catch {
    answer = undefined; // no answer at all: a restart, a network drop
  }
  if (client !== api) return; // signed out meanwhile
  if (!answer || answer.response.status >= 500) {
    loadError.value = 'deskwire is not answering; trying again';
    retry = setTimeout(() => void reload(), 2000);
    return;
  }
  const { data, error } = answer;
  if (error) {
    meanwhile = undefined;
    loadError.value = error.error.message;
    return;
  }
  loadError.value = null;
  desks.value = new Map(data.map((d) => [d.uuid, d]));
  const open = selected.value;
  histories.value = new Map();
  if (open) await loadOlder(open);
  if (meanwhile !== during) return; // a later reload took over
  meanwhile = undefined;
  for (const e of during) apply(e);
}

/** The next page back of a desk's history (the first page when none is loaded). */
export async function loadOlder(desk: string): Promise<void> {
  const h = histories.value.get(desk);
  if (h?.complete) return;
  const before = h?.messages[0]?.uuid;
  const { data, error } = await api!.GET('/api/help-desks/{uuid}/history/', {
    params: { path: { uuid: desk }, query: { limit: pageSize, ...(before ? { before } : {}) } },
  });
  if (error) {
    loadError.value = error.error.message;
    return;
  }
  const now = histories.value.get(desk)?.messages ?? [];
  const older = [...data].reverse().filter((m) => !now.some((n) => n.uuid === m.uuid));
  histories.value = new Map(histories.value).set(desk, { messages: [...older, ...now], complete: data.length < pageSize });
}

/** A message as it is now (from an event, or a send's answer) into its desk's history and the desk. */
export function upsert(m: Message): void {
  const h = histories.value.get(m.help_desk);
  if (h) {
    const i = h.messages.findIndex((x) => x.uuid === m.uuid);
    const messages = i >= 0 ? h.messages.map((x, j) => (j === i ? m : x)) : [...h.messages, m].sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
    histories.value = new Map(histories.value).set(m.help_desk, { ...h, messages });
  }
  const d = desks.value.get(m.help_desk);
  const last = d && lastMessage(d);
  if (d && (!last || last.uuid === m.uuid || last.created_at <= m.created_at)) {
    desks.value = new Map(desks.value).set(d.uuid, { ...d, last_message: m });
  }
}

function apply(e: DeskwireEvent): void {
  meanwhile?.push(e);
  if (e.type === 'new_message' || e.type === 'update_message') upsert(e.message);
  else if (e.type === 'update_helpdesk') desks.value = new Map(desks.value).set(e.helpDesk.uuid, e.helpDesk);
}
