import type { DeskEvent } from '../events/event.ts';

/**
 * A room event's id is its position, which the sequencer gives after the writer's
 * commit. A publisher over REST waits for it here: the stream hands every room
 * event over (published), and a wait registered before the insert resolves with
 * its position, or null if it has not come within the wait (it still will).
 */
export interface Numbered {
  wait(ref: string, ms: number): { position: Promise<number | null>; cancel(): void };
  published(e: DeskEvent): void;
}

export function createNumbered(): Numbered {
  const waiting = new Map<string, (position: number | null) => void>();
  return {
    wait(ref, ms) {
      let done!: (position: number | null) => void;
      const position = new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => done(null), ms);
        done = (p) => {
          clearTimeout(timer);
          waiting.delete(ref);
          resolve(p);
        };
      });
      waiting.set(ref, done);
      return { position, cancel: () => done(null) };
    },
    published(e) {
      if (e.ref !== undefined) waiting.get(e.ref)?.(e.position);
    },
  };
}
