import { createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import type { Db } from "@switchyard/db";
import { DestinationError, checkDestination, type CheckedDestination, type DestinationPolicy } from "./webhookDestination";
import { announceLeaks, announceOfflineHosts } from "./webhookEvents";
import { startPeriodic, type PeriodicJob } from "./periodic";
import { dbNow, dbNowMs } from "../clock";

/**
 * Sends webhook deliveries (issue 13 §5) from the console process. Several replicas may share one
 * PostgreSQL: a delivery is claimed by one statement (`FOR UPDATE SKIP LOCKED`, then a claim with
 * an expiry that adds an attempt), and its outcome is written only if that attempt is still the
 * row's (a replica that stalled past its claim cannot overwrite a newer attempt). A console that
 * dies mid-send leaves a claim that expires: the delivery is sent again (at least once; receivers
 * dedupe by the event's `id` or `X-Switchyard-Delivery`).
 */

export const WEBHOOK_DEFAULTS = {
  /** In flight at once per console process. */
  concurrency: 4,
  /** Per attempt, connect to last byte; redirects are not followed. */
  timeoutMs: 10_000,
  /** A claim outlives the attempt's timeout; a console that died frees its claims after this. */
  claimMs: 60_000,
  /** Back-off after failed attempt n: base·2^(n-1), capped, then jittered to 50–100 % of that. */
  baseDelayMs: 10_000,
  maxDelayMs: 3600_000,
  /** How often the worker looks for due deliveries (besides `wake()`). */
  pollMs: 2_000,
  /** How often offline hosts and new leaks are looked for, and the log pruned. */
  scanMs: 30_000,
  /** The delivery log keeps, per webhook, at most this many finished deliveries, none older than `keepDays`. */
  keepPerWebhook: 200,
  keepDays: 30,
} as const;

export type WebhookWorkerOptions = Partial<Record<Exclude<keyof typeof WEBHOOK_DEFAULTS, "scanMs">, number>> & {
  db: Db;
  /** The console's own ports and public URL (the webhook's `allowLocal` completes the policy). */
  policy: Omit<DestinationPolicy, "allowLocal">;
  /** For tests: the jitter's random source (0..1). */
  random?: () => number;
};

/** `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`: what X-Switchyard-Signature carries. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** The wait before attempt n+1 after attempt n failed. */
export function retryDelayMs(attempt: number, opts: { baseDelayMs: number; maxDelayMs: number }, random = Math.random): number {
  const full = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(full / 2 + (full / 2) * random());
}

interface Claimed {
  id: string;
  webhookId: string;
  event: string;
  payload: unknown;
  attempts: number;
  maxAttempts: number;
  url: string;
  secret: string;
  allowLocal: boolean;
}

/** Claims up to `max` due deliveries of enabled webhooks; each claim is one more attempt. */
async function claimDeliveries(db: Db, max: number, claimMs: number): Promise<Claimed[]> {
  if (max <= 0) return [];
  // The database's clock: another replica wrote when each delivery is due and how long its claim lasts.
  const now = dbNow();
  const until = new Date(now.getTime() + claimMs);
  return db.$queryRaw<Claimed[]>`
    UPDATE "WebhookDelivery" d SET attempts = d.attempts + 1, "claimedUntil" = ${until}, "updatedAt" = ${now}
    FROM "Webhook" w
    WHERE w.id = d."webhookId" AND d.id IN (
      SELECT q.id FROM "WebhookDelivery" q
      WHERE q.status = 'pending' AND q."nextAttemptAt" <= ${now} AND (q."claimedUntil" IS NULL OR q."claimedUntil" < ${now})
        AND q.attempts < q."maxAttempts"
        AND EXISTS (SELECT 1 FROM "Webhook" e WHERE e.id = q."webhookId" AND e.enabled)
      ORDER BY q."nextAttemptAt"
      LIMIT ${max}
      FOR UPDATE OF q SKIP LOCKED)
    RETURNING d.id, d."webhookId", d.event, d.payload, d.attempts, d."maxAttempts", w.url, w.secret, w."allowLocal"`;
}

type Outcome = { ok: true; status: number; durationMs: number } | { ok: false; status: number | null; error: string; durationMs: number; final?: boolean };

/** Writes an attempt's outcome if the attempt is still the row's current one. */
async function recordOutcome(db: Db, d: Claimed, outcome: Outcome, opts: { baseDelayMs: number; maxDelayMs: number; random: () => number }): Promise<"succeeded" | "failed" | "retrying" | "stale"> {
  const now = dbNow();
  const fence = { id: d.id, attempts: d.attempts, status: "pending" as const };
  const common = { claimedUntil: null, lastStatus: outcome.status, durationMs: outcome.durationMs, updatedAt: now };
  if (outcome.ok) {
    const { count } = await db.webhookDelivery.updateMany({ where: fence, data: { ...common, status: "succeeded", lastError: "", finishedAt: now } });
    return count ? "succeeded" : "stale";
  }
  const error = outcome.error.slice(0, 2000);
  if (outcome.final || d.attempts >= d.maxAttempts) {
    const { count } = await db.webhookDelivery.updateMany({ where: fence, data: { ...common, status: "failed", lastError: error, finishedAt: now } });
    return count ? "failed" : "stale";
  }
  const nextAttemptAt = new Date(now.getTime() + retryDelayMs(d.attempts, opts, opts.random));
  const { count } = await db.webhookDelivery.updateMany({ where: fence, data: { ...common, lastError: error, nextAttemptAt } });
  return count ? "retrying" : "stale";
}

/** One POST to a checked destination, connecting to its checked address; never follows a redirect. */
function post(dest: CheckedDestination, headers: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const mod = dest.url.protocol === "https:" ? https : http;
    const req = mod.request({
      method: "POST",
      host: dest.hostname,
      port: dest.port,
      path: `${dest.url.pathname}${dest.url.search}`,
      headers: { ...headers, host: dest.url.host, "content-length": String(Buffer.byteLength(body)) },
      agent: false,
      // The connection goes to the address checked, whatever the name resolves to by now.
      lookup: ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
        if (options.all) cb(null, [{ address: dest.address, family: dest.family }]);
        else cb(null, dest.address, dest.family);
      }) as never,
      // TLS checks the certificate against the name (SNI carries no IP literal).
      ...(dest.url.protocol === "https:" && !isIP(dest.hostname) ? { servername: dest.hostname } : {}),
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (text.length < 500) text += chunk;
        else res.destroy();
      });
      const done = () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: text.slice(0, 500) });
      };
      res.on("end", done);
      res.on("close", done);
    });
    req.end(body);
  });
}

/** One attempt of one claimed delivery: check the destination again, sign, POST. */
async function attempt(d: Claimed, opts: { policy: Omit<DestinationPolicy, "allowLocal">; timeoutMs: number }): Promise<Outcome> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  let dest: CheckedDestination | null;
  try {
    dest = await checkDestination(d.url, { ...opts.policy, allowLocal: d.allowLocal });
  } catch (err) {
    if (err instanceof DestinationError) return { ok: false, status: null, error: err.message, durationMs: ms(), final: err.reason !== "unresolvable" };
    throw err;
  }
  if (!dest) return { ok: false, status: null, error: "the webhook host does not resolve", durationMs: ms() };
  // Serialized the same way at every attempt: the signature covers exactly these bytes.
  const body = JSON.stringify(d.payload);
  // The database's clock: receivers check the signed timestamp against theirs, within minutes.
  const timestamp = String(Math.floor(dbNowMs() / 1000));
  const headers = {
    "content-type": "application/json",
    "user-agent": "Switchyard-Webhook/1",
    "x-switchyard-event": d.event,
    "x-switchyard-delivery": d.id,
    "x-switchyard-attempt": String(d.attempts),
    "x-switchyard-timestamp": timestamp,
    "x-switchyard-signature": signWebhook(d.secret, timestamp, body),
  };
  try {
    const res = await post(dest, headers, body, opts.timeoutMs);
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, durationMs: ms() };
    const why = res.status >= 300 && res.status < 400 ? "a redirect (not followed: point the webhook at the final URL)" : `HTTP ${res.status}`;
    return { ok: false, status: res.status, error: `${why}${res.text ? `: ${res.text.replace(/\s+/g, " ").trim().slice(0, 300)}` : ""}`, durationMs: ms() };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, status: null, error: e.code ? `${e.code}: ${e.message}` : e.message, durationMs: ms() };
  }
}

export interface WebhookWorker {
  /** Looks for due deliveries now (after an enqueue, in tests). */
  wake(): void;
  /** Resolves once nothing is in flight and nothing is due (tests). */
  drain(): Promise<void>;
  /** Stops polling; waits for deliveries in flight up to `ms` (an unfinished one is retried after its claim expires). */
  stop(ms?: number): Promise<void>;
}

/**
 * The delivery worker: at most `concurrency` POSTs in flight, claiming more as slots free, polling
 * every `pollMs`. Its timer does not keep the process alive.
 */
export function createWebhookWorker(options: WebhookWorkerOptions): WebhookWorker {
  const o = { ...WEBHOOK_DEFAULTS, random: Math.random, ...options };
  const inFlight = new Set<Promise<void>>();
  let pumping: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  const log = (level: "error" | "warn", msg: string, extra: Record<string, unknown>) => console[level](JSON.stringify({ level, msg, ...extra }));

  const run = (d: Claimed) => {
    const p = (async () => {
      const outcome = await attempt(d, { policy: o.policy, timeoutMs: o.timeoutMs });
      await recordOutcome(o.db, d, outcome, o);
    })()
      .catch((err: unknown) => log("error", "webhook delivery failed to run", { deliveryId: d.id, error: String(err) }))
      .finally(() => {
        inFlight.delete(p);
        if (!stopped) wake();
      });
    inFlight.add(p);
  };

  async function pump(): Promise<void> {
    do {
      again = false;
      const claimed = await claimDeliveries(o.db, o.concurrency - inFlight.size, o.claimMs);
      for (const d of claimed) run(d);
      if (claimed.length > 0 && inFlight.size < o.concurrency) again = true;
    } while (again && !stopped);
  }

  function wake() {
    if (stopped) return;
    if (pumping) {
      again = true;
      return;
    }
    pumping = pump()
      .catch((err: unknown) => log("error", "webhook claim failed", { error: String(err) }))
      .finally(() => {
        pumping = null;
      });
  }

  const timer = setInterval(wake, o.pollMs);
  timer.unref();

  return {
    wake,
    async drain() {
      for (;;) {
        wake();
        await pumping;
        if (inFlight.size > 0) {
          await Promise.race(inFlight);
          continue;
        }
        // One more look: a delivery may have come due while the last ones ran.
        const now = dbNow();
        const [due] = await o.db.$queryRaw<{ n: bigint }[]>`
          SELECT count(*) AS n FROM "WebhookDelivery" q JOIN "Webhook" w ON w.id = q."webhookId" AND w.enabled
          WHERE q.status = 'pending' AND q."nextAttemptAt" <= ${now} AND q.attempts < q."maxAttempts" AND (q."claimedUntil" IS NULL OR q."claimedUntil" < ${now})`;
        if (Number(due?.n ?? 0) === 0) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop(ms = 3000) {
      stopped = true;
      clearInterval(timer);
      await Promise.race([Promise.allSettled([...inFlight, pumping]), new Promise((r) => setTimeout(r, ms).unref())]);
    },
  };
}

/**
 * Fails deliveries whose last attempt's claim expired (the console died sending them) and trims
 * the log: per webhook the newest `keepPerWebhook` finished deliveries, none older than `keepDays`.
 * Pending deliveries are never trimmed.
 */
export async function pruneDeliveries(db: Db, opts: { keepPerWebhook?: number; keepDays?: number } = {}): Promise<{ expired: number; pruned: number }> {
  const now = dbNow();
  const keep = opts.keepPerWebhook ?? WEBHOOK_DEFAULTS.keepPerWebhook;
  const before = new Date(now.getTime() - (opts.keepDays ?? WEBHOOK_DEFAULTS.keepDays) * 86_400_000);
  const expired = await db.$executeRaw`
    UPDATE "WebhookDelivery" SET status = 'failed', "finishedAt" = ${now}, "updatedAt" = ${now}, "claimedUntil" = NULL,
      "lastError" = left('the console stopped during the last attempt; ' || "lastError", 2000)
    WHERE status = 'pending' AND attempts >= "maxAttempts" AND "claimedUntil" < ${now}`;
  const pruned = await db.$executeRaw`
    DELETE FROM "WebhookDelivery" WHERE id IN (
      SELECT id FROM (
        SELECT id, "createdAt", row_number() OVER (PARTITION BY "webhookId" ORDER BY "createdAt" DESC, id) AS rn
        FROM "WebhookDelivery" WHERE status <> 'pending') f
      WHERE f.rn > ${keep} OR f."createdAt" < ${before})`;
  return { expired, pruned };
}

/**
 * Everything webhooks need running in a console process: the delivery worker, and a periodic scan
 * that turns hosts gone silent and new leaks into events and trims the delivery log. Every replica
 * runs one; the claims and notices keep them from doubling anything.
 */
export function startWebhooks(options: WebhookWorkerOptions & { scanMs?: number; onError?: (err: unknown) => void }): { worker: WebhookWorker; scan: PeriodicJob<unknown>; stop(): Promise<void> } {
  const worker = createWebhookWorker(options);
  const scan = startPeriodic(
    async () => {
      const offline = await announceOfflineHosts(options.db);
      const leaks = await announceLeaks(options.db);
      const pruned = await pruneDeliveries(options.db, options);
      if (offline.announced + leaks.announced > 0) worker.wake();
      return { offline, leaks, pruned };
    },
    { intervalMs: options.scanMs ?? WEBHOOK_DEFAULTS.scanMs, ...(options.onError ? { onError: options.onError } : {}) },
  );
  // The first scan at start: a silence or a leak that began while no console ran is announced now.
  void scan.runOnce().catch((err: unknown) => options.onError?.(err));
  return {
    worker,
    scan,
    async stop() {
      scan.stop();
      await worker.stop();
    },
  };
}
