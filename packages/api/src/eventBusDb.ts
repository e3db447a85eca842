import { openNotifyChannel, parseDbUrl, type NotifyOptions } from "@switchyard/db";
import { createEventBus, type EventBus, type EventBusOptions } from "./events";

/** The one LISTEN/NOTIFY channel every console replica of a database shares. */
export const EVENTS_CHANNEL = "switchyard_events";
/** What the listener's connection is called in pg_stat_activity. */
export const EVENTS_APPLICATION_NAME = "switchyard-events";

/**
 * The console's event bus on its database: local subscribers at once, other replicas through
 * LISTEN/NOTIFY on one dedicated connection (PostgreSQL) or the process's PGlite instance.
 * An anonymous in-memory PGlite (`file::memory:`) has nobody else to tell: in-process only.
 */
export function createDbEventBus(url: string, opts: Omit<EventBusOptions, "transport"> & Pick<NotifyOptions, "applicationName" | "retryMs" | "pingMs"> = {}): EventBus {
  const target = parseDbUrl(url);
  if (target.kind === "pglite-memory" && target.name === null) return createEventBus(opts);
  return createEventBus({
    ...opts,
    transport: (handlers) => openNotifyChannel(url, EVENTS_CHANNEL, handlers, {
      applicationName: opts.applicationName ?? EVENTS_APPLICATION_NAME,
      retryMs: opts.retryMs,
      pingMs: opts.pingMs,
    }),
  });
}
