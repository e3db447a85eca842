import { createDb } from "@switchyard/db";
import type { Session } from "./auth/session";
import { createContextInner, type AgentIdentity, type ConsoleDeps } from "./context";
import { createDbEventBus } from "./eventBusDb";
import { createCaller } from "./root";
import { agentRootRouter } from "./routers/agent";
import type { ApiTest } from "./testing";
import { createCallerFactory } from "./trpc";

const createAgentCaller = createCallerFactory(agentRootRouter);

/**
 * Another console replica on the test's database: its own Prisma client and its own event bus
 * (own LISTEN connection), as a second console process would have.
 */
export async function openReplica(t: ApiTest, name: string, opts: { retryMs?: { min: number; max: number } } = {}) {
  const events = createDbEventBus(t.url, { applicationName: `switchyard-events-${name}`, tickMs: 10, retryMs: opts.retryMs });
  await events.ready;
  const deps: ConsoleDeps = { ...t.deps, db: createDb(t.url), events };
  return {
    name,
    deps,
    caller: (session: Session) => createCaller(createContextInner({ ...deps, session })),
    agentCaller: (agent: AgentIdentity) => createAgentCaller(createContextInner({ ...deps, session: null, agent })).agent,
    async close() {
      await events.close();
      await deps.db.$disconnect();
    },
  };
}
export type Replica = Awaited<ReturnType<typeof openReplica>>;

/** Reads an async iterable with a deadline per item; the pending read survives a timeout. */
export function reader<T>(iterable: AsyncIterable<T>) {
  const it = iterable[Symbol.asyncIterator]();
  // Read at once: a subscription listens only from its first read.
  let pending: Promise<IteratorResult<T>> | undefined = it.next();
  return {
    /** The next item, or null when none comes within `ms`. */
    async next(ms = 2000): Promise<T | null> {
      pending ??= it.next();
      let timer: NodeJS.Timeout | undefined;
      const got = await Promise.race([pending, new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)))]);
      clearTimeout(timer);
      if (got === null) return null;
      pending = undefined;
      return got.done ? null : got.value;
    },
    /** Skips items until `match` (or null after `ms` in all). */
    async until(match: (item: T) => boolean, ms = 2000): Promise<T | null> {
      const deadline = Date.now() + ms;
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) return null;
        const item = await this.next(left);
        if (item === null || match(item)) return item;
      }
    },
    /** Ends the iteration; bounded, since a generator returns only after a pending read. */
    close: () => Promise.race([it.return?.(), new Promise((r) => setTimeout(r, 500))]),
  };
}
