import { roomName, uuidText } from '../domain.ts';
import { HttpError } from '../errors.ts';
import type { DeskEvent } from '../events/event.ts';

/** What a socket listens to (CONTRACT §9), all within its own organization. */
export interface Topics {
  org: boolean;
  /** The desks assigned to the socket's agent (its credential's subject). */
  inbox: boolean;
  desks: Set<string>;
  rooms: Set<string>;
}

/** Which events a replay is for: a socket's topics at connect, and its agent (whose inbox). */
export interface ReplayFor {
  topics: Topics;
  agent: string;
}

export type Topic = { kind: 'org' } | { kind: 'inbox' } | { kind: 'desk'; desk: string } | { kind: 'room'; room: string };


export const topicRule = 'topics are org, inbox, desk:<uuid> or room:<name> (name: 1-128 of A-Z a-z 0-9 _ . : -)';


/** A topic as a client writes it, or undefined when malformed. */
export function parseTopic(text: unknown): Topic | undefined {
  if (typeof text !== 'string') return undefined;
  if (text === 'org') return { kind: 'org' };
  if (text === 'inbox') return { kind: 'inbox' };
  if (text.startsWith('desk:')) {
    const desk = text.slice(5).toLowerCase();
    return uuidText.test(desk) ? { kind: 'desk', desk } : undefined;
  }
  if (text.startsWith('room:')) {
    const room = text.slice(5);
    return roomName.test(room) ? { kind: 'room', room } : undefined;
  }
  return undefined;
}

/** Every topic of a list, or invalid_topic naming the first that is not one. */
export function parseTopics(list: unknown[]): Topic[] {
  return list.map((t) => {
    const topic = parseTopic(t);
    if (!topic) throw new HttpError('invalid_topic', `${JSON.stringify(t)?.slice(0, 80)} is not a topic: ${topicRule}`);
    return topic;
  });
}

export function tooManyTopics(max: number): HttpError {
  return new HttpError('too_many_topics', `a socket listens to at most ${max} topics (WS_TOPICS_PER_SOCKET)`);
}

/**
 * A socket's topics from the ?topics= of its URL (comma-separated; empty: none, to
 * subscribe later; absent: `org`, as before topics existed), and the topics it
 * named; or invalid_topic, too_many_topics.
 */
export function topicsOfQuery(text: string | null, max: number): { topics: Topics; named: Topic[] } {
  if (text === null) return { topics: { org: true, inbox: false, desks: new Set(), rooms: new Set() }, named: [] };
  const named = parseTopics(text.split(',').filter((t) => t !== ''));
  const topics: Topics = { org: false, inbox: false, desks: new Set(), rooms: new Set() };
  addTopics(topics, named);
  if (countTopics(topics) > max) throw tooManyTopics(max);
  return { topics, named };
}

export function addTopics(to: Topics, list: Topic[]): void {
  for (const t of list) {
    if (t.kind === 'org') to.org = true;
    else if (t.kind === 'inbox') to.inbox = true;
    else if (t.kind === 'desk') to.desks.add(t.desk);
    else to.rooms.add(t.room);
  }
}

export function removeTopics(from: Topics, list: Topic[]): void {
  for (const t of list) {
    if (t.kind === 'org') from.org = false;
    else if (t.kind === 'inbox') from.inbox = false;
    else if (t.kind === 'desk') from.desks.delete(t.desk);
    else from.rooms.delete(t.room);
  }
}

export function countTopics(t: Topics): number {
  return (t.org ? 1 : 0) + (t.inbox ? 1 : 0) + t.desks.size + t.rooms.size;
}

/** The topics as a client writes them: what a `subscribed` frame lists. */
export function listTopics(t: Topics): string[] {
  const list: string[] = [];
  if (t.org) list.push('org');
  if (t.inbox) list.push('inbox');
  for (const d of t.desks) list.push(`desk:${d}`);
  for (const r of t.rooms) list.push(`room:${r}`);
  return list;
}

export function copyTopics(t: Topics): Topics {
  return { org: t.org, inbox: t.inbox, desks: new Set(t.desks), rooms: new Set(t.rooms) };
}

/** The assignee an update_helpdesk shows (null: nobody). */
export function assigneeOf(e: DeskEvent): string | null {
  if (e.data === null) return null;
  return (JSON.parse(e.data) as { assignee?: string | null }).assignee ?? null;
}

/**
 * Whether a socket with these topics takes an event: what the uWS topics it holds
 * would give it (domain.ts uwsTopic). `inboxDesks` are its agent's desks before the
 * event (read only if it listens to `inbox`); an update_helpdesk that assigns a
 * desk to the agent counts too.
 */
export function takes(t: Topics, agent: string, inboxDesks: ReadonlySet<string>, e: DeskEvent): boolean {
  if (e.type === 'resync_required') return true;
  if (e.room !== undefined) return t.rooms.has(e.room);
  if (t.org) return true;
  if (e.desk === undefined) return false;
  if (t.desks.has(e.desk)) return true;
  if (!t.inbox) return false;
  return inboxDesks.has(e.desk) || (e.type === 'update_helpdesk' && assigneeOf(e) === agent);
}
