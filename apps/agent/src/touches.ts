import type { AttachmentKey } from "./owned";

const keyOf = (a: AttachmentKey) => `${a.networkName}\0${a.containerId}\0${a.ifName}`;

/** The attachments operations began on while a watch was open. */
export interface TouchWatch {
  has(a: AttachmentKey): boolean;
  list(): AttachmentKey[];
  close(): void;
}

/**
 * Which attachments operations began on since a moment. Reconcile fetches the desired list before
 * it takes the gate (so that a slow console never holds every operation on the host back behind
 * it); an operation that began after that fetch may have made or removed a cache entry the list
 * does not know of yet, and reconcile leaves those alone until its next run. Only open watches
 * record: nothing grows while no reconcile is fetching.
 */
export function createTouches() {
  const open = new Set<Map<string, AttachmentKey>>();
  return {
    /** An operation begins on `a` (before it changes anything on the host). */
    touch(a: AttachmentKey): void {
      for (const keys of open) keys.set(keyOf(a), { networkName: a.networkName, containerId: a.containerId, ifName: a.ifName });
    },
    watch(): TouchWatch {
      const keys = new Map<string, AttachmentKey>();
      open.add(keys);
      return { has: (a) => keys.has(keyOf(a)), list: () => [...keys.values()], close: () => void open.delete(keys) };
    },
  };
}
export type Touches = ReturnType<typeof createTouches>;
