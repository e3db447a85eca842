import pg from "pg";
import { leasePglite } from "./pglite";
import { parseDbUrl } from "./url";

/** What a notify channel tells its owner. */
export interface NotifyHandlers {
  /** A payload sent on the channel by any session (this one included). */
  onMessage(payload: string): void;
  /** Listening (again). `reconnected`: the connection had dropped, so messages may have been missed. */
  onConnected(info: { reconnected: boolean }): void;
  /** The connection failed or dropped; the channel retries by itself. */
  onError?(err: unknown): void;
}

/**
 * One PostgreSQL LISTEN/NOTIFY channel of this process: one dedicated connection that both
 * listens and sends (PostgreSQL) or the process's PGlite instance (in-process).
 */
export interface NotifyChannel {
  /** Resolves when the channel first listens. */
  ready: Promise<void>;
  /** Sends the payloads in one statement, so one commit: NOTIFY takes a cluster-wide lock at commit. */
  notify(payloads: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface NotifyOptions {
  /** Shown in pg_stat_activity, so an operator (or a test) can find the listener. */
  applicationName?: string;
  /** Reconnect back-off bounds. */
  retryMs?: { min: number; max: number };
  /** How often the listener checks its connection (a dead peer sends no FIN). */
  pingMs?: number;
}

/** PostgreSQL's limit is 8000 bytes per payload. */
export const NOTIFY_MAX_BYTES = 7900;
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const NOTIFY_SQL = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p";

/** Opens `channel` on the database at `url` (`postgresql://…` or a PGlite `file:` URL). */
export function openNotifyChannel(url: string, channel: string, handlers: NotifyHandlers, opts: NotifyOptions = {}): NotifyChannel {
  if (!CHANNEL_NAME.test(channel)) throw new Error(`notify channel "${channel}" is invalid: use 1–63 lowercase letters, digits or "_", not starting with a digit`);
  const target = parseDbUrl(url);
  if (target.kind === "pglite-memory" && target.name === null) {
    throw new Error(`database URL "file::memory:" opens a fresh PGlite on every use, so nothing could be heard on it: name it (file::memory:<name>) or use a directory`);
  }
  return target.kind === "postgres" ? openPgChannel(target.url, channel, handlers, opts) : openPgliteChannel(target, channel, handlers);
}

function openPgChannel(url: string, channel: string, handlers: NotifyHandlers, opts: NotifyOptions): NotifyChannel {
  const retry = opts.retryMs ?? { min: 100, max: 5000 };
  let client: pg.Client | null = null;
  let closed = false;
  let everConnected = false;
  let connecting: Promise<void> | null = null;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  async function connectOnce(): Promise<pg.Client> {
    const c = new pg.Client({
      connectionString: url,
      application_name: opts.applicationName ?? "switchyard-events",
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      query_timeout: 10_000,
    });
    // pg emits "error" then "end" when the backend goes away; "end" drives the reconnect.
    c.on("error", (err) => handlers.onError?.(err));
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
    return c;
  }

  /** `afterDrop`: wait the back-off first, so a restarting server is not hammered. */
  function connect(afterDrop = false): Promise<void> {
    return (connecting ??= (async () => {
      if (afterDrop) await sleep(retry.min);
      for (let attempt = 0; !closed; attempt++) {
        try {
          const c = await connectOnce();
          if (closed) {
            await c.end().catch(() => {});
            return;
          }
          c.on("notification", (m) => {
            if (m.channel === channel && m.payload !== undefined) handlers.onMessage(m.payload);
          });
          c.once("end", () => {
            if (client !== c) return;
            client = null;
            if (!closed) void connect(true);
          });
          client = c;
          const reconnected = everConnected;
          everConnected = true;
          markReady();
          handlers.onConnected({ reconnected });
          return;
        } catch (err) {
          handlers.onError?.(err);
          await sleep(Math.min(retry.max, retry.min * 2 ** attempt));
        }
      }
    })().finally(() => (connecting = null)));
  }

  const ping = setInterval(() => {
    const c = client;
    // A failed ping ends the connection, and its "end" reconnects.
    c?.query("SELECT 1").catch(() => void c.end().catch(() => {}));
  }, opts.pingMs ?? 30_000);
  ping.unref();
  void connect();

  return {
    ready,
    async notify(payloads) {
      if (payloads.length === 0) return;
      const c = client;
      if (!c) throw new Error(`notify channel "${channel}" is not connected (reconnecting)`);
      await c.query(NOTIFY_SQL, [channel, payloads]);
    },
    async close() {
      closed = true;
      clearInterval(ping);
      const c = client;
      client = null;
      await connecting?.catch(() => {});
      await c?.end().catch(() => {});
    },
  };
}

function openPgliteChannel(target: Exclude<ReturnType<typeof parseDbUrl>, { kind: "postgres" }>, channel: string, handlers: NotifyHandlers): NotifyChannel {
  // The same instance as the process's Prisma client: PGlite is one in-process backend.
  const lease = leasePglite(target);
  let unlisten: (() => Promise<void>) | undefined;
  const ready = lease.pglite
    .listen(channel, (payload) => handlers.onMessage(payload))
    .then((off) => {
      unlisten = off;
      handlers.onConnected({ reconnected: false });
    });
  return {
    ready,
    async notify(payloads) {
      if (payloads.length === 0) return;
      await lease.pglite.query(NOTIFY_SQL, [channel, payloads]);
    },
    async close() {
      await ready.catch(() => {});
      if (!lease.pglite.closed) await unlisten?.().catch(() => {});
      await lease.release();
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
