/**
 * Many operations at once, or one exclusive task alone: reconcile's GC never runs beside ADD/DEL,
 * and it reads a fresh desired list. An exclusive task waits for the shared ones in progress;
 * shared ones that arrive meanwhile wait for it (no starvation of reconcile by a stream of work).
 */
export interface Gate {
  shared<T>(fn: () => Promise<T>): Promise<T>;
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

export function createGate(): Gate {
  let shared = 0;
  let exclusive: Promise<void> | undefined;
  const idle: (() => void)[] = [];
  return {
    async shared<T>(fn: () => Promise<T>): Promise<T> {
      while (exclusive) await exclusive;
      shared++;
      try {
        return await fn();
      } finally {
        shared--;
        if (shared === 0) idle.splice(0).forEach((r) => r());
      }
    },
    async exclusive<T>(fn: () => Promise<T>): Promise<T> {
      while (exclusive) await exclusive;
      let done!: () => void;
      exclusive = new Promise<void>((r) => (done = r));
      try {
        while (shared > 0) await new Promise<void>((r) => idle.push(r));
        return await fn();
      } finally {
        exclusive = undefined;
        done();
      }
    },
  };
}
