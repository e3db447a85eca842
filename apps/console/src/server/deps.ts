import path from "node:path";
import { createDbEventBus, ensureBootstrapAdmin, startClockSync, startDetachedPurge, startLeaseHistoryPurge, startRegistrationSweep, startWebhooks, writeLocalJoinToken, type ClockSync, type ConsoleDeps, type PeriodicJob, type PurgeTimer } from "@switchyard/api";
import { closeDb, createDb, migrateDatabase } from "@switchyard/db";
import { databaseUrl, getEnv } from "./env";

interface Holder {
  deps?: Promise<ConsoleDeps>;
  clock?: ClockSync;
  purge?: PurgeTimer;
  historyPurge?: PeriodicJob<unknown>;
  registrationSweep?: PeriodicJob<unknown>;
  webhooks?: ReturnType<typeof startWebhooks>;
}

/** How often the purges of old detached attachments and old address history run (each run deletes at most one batch). */
const PURGE_INTERVAL_MS = 10 * 60_000;
// One set of dependencies per process, kept on globalThis: Next dev reloads modules,
// and the embedded database may be opened only once.
const holder = globalThis as typeof globalThis & { __switchyard?: Holder };
holder.__switchyard ??= {};

async function start(): Promise<ConsoleDeps> {
  const env = getEnv();
  const url = databaseUrl(env);
  const { applied } = await migrateDatabase(url, { migrationsDir: path.resolve(env.SWITCHYARD_MIGRATIONS_DIR) });
  if (applied.length) console.log(JSON.stringify({ level: "info", msg: "migrations applied", applied }));
  const db = createDb(url, { max: env.SWITCHYARD_DB_POOL, waitMs: env.SWITCHYARD_DB_POOL_WAIT_MS });
  // Times shared with other replicas (liveness, sessions, claims) are kept by the database's clock, measured before the first request.
  holder.__switchyard!.clock?.stop();
  holder.__switchyard!.clock = startClockSync(db);
  await holder.__switchyard!.clock.ready;
  const boot = await ensureBootstrapAdmin(db, { password: env.SWITCHYARD_ADMIN_PASSWORD });
  if (boot.created) {
    const line = "=".repeat(72);
    console.log(
      boot.secret
        ? `${line}\nSwitchyard first start: sign in as "${boot.username}" with this one-time bootstrap secret:\n\n    ${boot.secret}\n\nIt is shown only now. Change it under Account after signing in.\n${line}`
        : `Switchyard first start: admin "${boot.username}" created with SWITCHYARD_ADMIN_PASSWORD.`,
    );
  }
  if (env.SWITCHYARD_LOCAL_JOIN_TOKEN_FILE) {
    const written = await writeLocalJoinToken(db, env.SWITCHYARD_LOCAL_JOIN_TOKEN_FILE);
    if (written) console.log(JSON.stringify({ level: "info", msg: "join token for the local agent written", file: env.SWITCHYARD_LOCAL_JOIN_TOKEN_FILE }));
  }
  if (env.SWITCHYARD_PURGE_DETACHED_AFTER_HOURS > 0) {
    holder.__switchyard!.purge?.stop();
    holder.__switchyard!.purge = startDetachedPurge({
      db,
      maxAgeMs: env.SWITCHYARD_PURGE_DETACHED_AFTER_HOURS * 3600_000,
      intervalMs: PURGE_INTERVAL_MS,
      onPurged: (o) => console.log(JSON.stringify({ level: "info", msg: "detached attachments purged", purged: o.purged, more: o.more })),
      onError: (err) => console.error(JSON.stringify({ level: "error", msg: "purge of detached attachments failed", error: String(err) })),
    });
  }
  if (env.SWITCHYARD_IPAM_HISTORY_DAYS > 0) {
    holder.__switchyard!.historyPurge?.stop();
    holder.__switchyard!.historyPurge = startLeaseHistoryPurge({
      db,
      keepMs: env.SWITCHYARD_IPAM_HISTORY_DAYS * 24 * 3600_000,
      intervalMs: PURGE_INTERVAL_MS,
      onPurged: (o) => console.log(JSON.stringify({ level: "info", msg: "address history purged", purged: o.purged, more: o.more })),
      onError: (err) => console.error(JSON.stringify({ level: "error", msg: "purge of address history failed", error: String(err) })),
    });
  }
  const events = createDbEventBus(url, { tickMs: env.SWITCHYARD_EVENTS_TICK_MS });
  // Listening before the first request: an event published before would reach no other replica.
  await events.ready;
  // Registered members whose TTL passed leave their pools (every replica sweeps; a sweep finding nothing writes nothing).
  holder.__switchyard!.registrationSweep?.stop();
  holder.__switchyard!.registrationSweep = startRegistrationSweep(
    { db, events },
    { onError: (err) => console.error(JSON.stringify({ level: "error", msg: "sweep of lapsed service registrations failed", error: String(err) })) },
  );
  // Webhook deliveries, and the scans that turn silent hosts and new leaks into events (every replica runs them; claims keep them single).
  void holder.__switchyard!.webhooks?.stop();
  holder.__switchyard!.webhooks = startWebhooks({
    db,
    policy: { ownPorts: [env.PORT], publicUrl: env.SWITCHYARD_PUBLIC_URL },
    onError: (err) => console.error(JSON.stringify({ level: "error", msg: "webhook scan failed", error: String(err) })),
  });
  return {
    db,
    events,
    publicUrl: env.SWITCHYARD_PUBLIC_URL,
    sessionPolicy: { ttlMs: env.SWITCHYARD_SESSION_TTL_HOURS * 3600_000 },
    secureCookies: env.SWITCHYARD_SECURE_COOKIES,
    reservedHostPorts: [env.PORT],
  };
}

export function getDeps(): Promise<ConsoleDeps> {
  holder.__switchyard!.deps ??= start().catch((err: unknown) => {
    holder.__switchyard!.deps = undefined;
    throw err;
  });
  return holder.__switchyard!.deps;
}

export async function closeDeps(): Promise<void> {
  holder.__switchyard?.clock?.stop();
  holder.__switchyard?.purge?.stop();
  holder.__switchyard?.historyPurge?.stop();
  holder.__switchyard?.registrationSweep?.stop();
  await holder.__switchyard?.webhooks?.stop();
  const deps = await holder.__switchyard?.deps?.catch(() => undefined);
  if (!deps) return;
  await deps.events.close().catch(() => {});
  await closeDb(deps.db);
}
