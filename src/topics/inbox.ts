import type { Logger } from '../log.ts';

/** The help desks assigned to an agent now (help_desks.assignee). */
export type LoadAssigned = (organization: string, agent: string) => Promise<string[]>;

/** One agent's inbox, shared by every socket of that agent that listens to `inbox`. */
interface Inbox<W> {
  organization: string;
  agent: string;
  desks: Set<string>;
  sockets: Set<W>;
  /** Resolves once the desks are loaded (and every move seen meanwhile is applied). */
  loaded: Promise<void>;
  /** Moves seen while loading: [desk, assignee], applied in order after the load. */
  pending: [string, string | null][] | undefined;
}

export interface Moves<W> {
  /** Sockets whose inbox now holds the desk, and sockets whose inbox no longer does. */
  gained: W[];
  lost: W[];
}

export interface Inboxes<W> {
  /** A socket listens to its agent's inbox; resolves once the inbox's desks are known. */
  join(ws: W, organization: string, agent: string): Promise<void>;
  leave(ws: W, organization: string, agent: string): void;
  /** The agent's desks (empty while loading). */
  desks(organization: string, agent: string): ReadonlySet<string>;
  /** Whether any socket of the organization listens to an inbox: only then do assignments need reading. */
  following(organization: string): boolean;
  /** A desk's update_helpdesk showed this assignee: moves it between inboxes. */
  assigned(organization: string, desk: string, assignee: string | null): Moves<W> | undefined;
}

const none: ReadonlySet<string> = new Set();

/**
 * Inboxes follow assignments as the events show them: each agent's desks are read
 * once, when its first socket asks, and from then on moved by the update_helpdesk
 * events (any writer's: REST's PATCH or an UPDATE). A desk belongs to one inbox at
 * a time (`owners`), so a move says whom it leaves.
 */
export function createInboxes<W>(load: LoadAssigned, log: Logger): Inboxes<W> {
  const inboxes = new Map<string, Inbox<W>>();
  const loading = new Set<Inbox<W>>();
  const owners = new Map<string, Inbox<W>>();
  const perOrganization = new Map<string, number>();
  const key = (organization: string, agent: string) => `${organization}\n${agent}`;
  const deskKey = (organization: string, desk: string) => `${organization}\n${desk}`;

  const give = (inbox: Inbox<W>, desk: string) => {
    const k = deskKey(inbox.organization, desk);
    if (owners.has(k)) return; // still another's: the event moving it is on its way
    owners.set(k, inbox);
    inbox.desks.add(desk);
  };
  const take = (inbox: Inbox<W>, desk: string) => {
    if (!inbox.desks.delete(desk)) return;
    owners.delete(deskKey(inbox.organization, desk));
  };

  return {
    join(ws, organization, agent) {
      const k = key(organization, agent);
      let inbox = inboxes.get(k);
      if (!inbox) {
        const fresh: Inbox<W> = { organization, agent, desks: new Set(), sockets: new Set(), loaded: Promise.resolve(), pending: [] };
        inbox = fresh;
        inboxes.set(k, fresh);
        loading.add(fresh);
        perOrganization.set(organization, (perOrganization.get(organization) ?? 0) + 1);
        fresh.loaded = load(organization, agent).then(
          (desks) => {
            loading.delete(fresh);
            if (inboxes.get(k) !== fresh) return; // every socket left meanwhile
            for (const d of desks) give(fresh, d);
            for (const [desk, assignee] of fresh.pending!) {
              if (assignee === agent) give(fresh, desk);
              else take(fresh, desk);
            }
            fresh.pending = undefined;
          },
          (err) => {
            // The sockets get the inbox's events from the next assignment on; they
            // cannot tell, so say it here.
            log.warn({ err, organization }, 'could not read an inbox\'s desks; it follows assignments from now on');
            loading.delete(fresh);
            fresh.pending = undefined;
          },
        );
      }
      inbox.sockets.add(ws);
      return inbox.loaded;
    },
    leave(ws, organization, agent) {
      const k = key(organization, agent);
      const inbox = inboxes.get(k);
      if (!inbox || !inbox.sockets.delete(ws) || inbox.sockets.size > 0) return;
      inboxes.delete(k);
      loading.delete(inbox);
      for (const d of inbox.desks) owners.delete(deskKey(organization, d));
      const left = perOrganization.get(organization)! - 1;
      if (left > 0) perOrganization.set(organization, left);
      else perOrganization.delete(organization);
    },
    desks(organization, agent) {
      return inboxes.get(key(organization, agent))?.desks ?? none;
    },
    following(organization) {
      return perOrganization.has(organization);
    },
    assigned(organization, desk, assignee) {
      for (const inbox of loading) if (inbox.organization === organization) inbox.pending!.push([desk, assignee]);
      const from = owners.get(deskKey(organization, desk));
      const to = assignee === null ? undefined : inboxes.get(key(organization, assignee));
      if (from === to || (to?.pending && !from)) return undefined;
      if (from) take(from, desk);
      if (to && !to.pending) give(to, desk);
      return { gained: to && !to.pending ? [...to.sockets] : [], lost: from ? [...from.sockets] : [] };
    },
  };
}
