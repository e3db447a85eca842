import type { Spawner } from "@switchyard/cni";

/**
 * One operation's plugin runs, held until its intent record is durable: a plugin is started at
 * once (the fork and exec overlap the intent's flush) but gets its config on stdin only when the
 * record is on disk, and is killed unfed if it could not be written. A CNI plugin reads its whole
 * config before it acts (skel reads stdin first), so no plugin acts before its intent is durable.
 * If the agent dies meanwhile, the spawn helper exits and the plugin reads an empty config: it
 * fails without acting.
 */
export function createPluginHold(spawner: Spawner): { spawner: Spawner; until(durable: Promise<void>): void } {
  let durable: Promise<void> | undefined;
  return {
    spawner: {
      run: (spec, hooks) => spawner.run(durable ? { ...spec, stdinAfter: durable } : spec, hooks),
      close: () => spawner.close(),
    },
    /** Plugins started from now on get their stdin once `durable` resolved. */
    until(next: Promise<void>): void {
      durable = next;
      // Its failure is the caller's to report; here it only aborts the held plugins.
      next.catch(() => {});
    },
  };
}
