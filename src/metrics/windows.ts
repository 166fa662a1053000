import type { Window } from '../events/listener.ts';
import { metrics } from './registry.ts';

/**
 * One observation per event of a window, all of the same value: the sequencer sees
 * commits only between two of its looks (milliseconds apart), so an event's commit
 * is taken as the middle of the window's two moments. Clocks of the database's and
 * this machine's hosts must agree (NTP) for the numbers to mean anything.
 */
export function observeWindow(w: Window): void {
  if (w.events === 0) return;
  const seconds = Math.max(0, (Date.now() - (w.looked + w.seen) / 2) / 1000);
  metrics.windowEvents.observe(w.events);
  for (let i = 0; i < w.events; i++) metrics.commitToPublish.observe(seconds);
}
