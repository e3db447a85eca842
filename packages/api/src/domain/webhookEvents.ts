import type { Db, DbTx } from "@switchyard/db";
import { SEEN_IN } from "../schemas/ipamReport";
import { WEBHOOK_TEST_EVENT, type WebhookEventKind } from "../schemas/webhooks";
import { OFFLINE_AFTER_MS } from "./hosts";
import { RESERVATION_CONTAINER_ID } from "./ipamReservations";
import { dbNow } from "../clock";

/**
 * The events webhooks carry (issue 13 §5), and where they are enqueued: each event becomes one
 * `WebhookDelivery` row per enabled webhook that wants its kind, written in the transaction of the
 * change that caused it (or, for what is only judged on read, in the transaction that records
 * having judged it), so an event is neither lost when the console restarts nor sent twice by
 * two replicas. The worker (webhookDelivery.ts) sends the rows.
 */

/** The body every delivery POSTs: `id` names the event (the same in every webhook's delivery and every redelivery). */
export interface WebhookEnvelope<K extends string = WebhookEventKind | typeof WEBHOOK_TEST_EVENT, D = unknown> {
  id: string;
  event: K;
  occurredAt: string;
  data: D;
}

export interface OperationFailedData {
  operation: { id: string; kind: string; attempt: number; error: string };
  host: { id: string; name: string };
  attachment: { id: string; containerId: string; ifName: string; networkName: string };
}
export interface HostOfflineData {
  host: { id: string; name: string };
  lastSeenAt: string;
  offlineAfterMs: number;
}
export interface LeakData {
  host: { id: string; name: string };
  networkName: string;
  networkId: string | null;
  /** The leases first judged leaks in this scan (at most LEAKS_PER_EVENT; `more` says how many else). */
  leaks: { address: string; containerId: string; ifName: string; netns: string; netnsGone: boolean; since: string }[];
  more: number;
}
/** What the proposals feature (issue 13 §4) passes when a proposal starts waiting for review. */
export interface ProposalAwaitingReviewData {
  proposal: { id: string; title: string };
  target: { kind: "network" | "service"; id: string; name: string };
  author: string;
  approvalsNeeded: number;
  /** Where a reviewer opens it in the console, when known. */
  url?: string;
}

type Event = { [K in WebhookEventKind]: { kind: K; data: EventData[K] } }[WebhookEventKind];
interface EventData {
  "operation.failed": OperationFailedData;
  "host.offline": HostOfflineData;
  "ipam.leak": LeakData;
  "proposal.awaiting_review": ProposalAwaitingReviewData;
}

const LEAKS_PER_EVENT = 100;
/** Leases first judged leaks that one scan takes up (the rest wait for the next). */
const LEAKS_PER_SCAN = 2000;

function envelope(e: { kind: string; data: unknown }, at: Date): WebhookEnvelope<string> {
  return { id: crypto.randomUUID(), event: e.kind, occurredAt: at.toISOString(), data: e.data };
}

/**
 * Enqueues events for every enabled webhook that wants their kind, in one statement whatever the
 * number of events and webhooks. Pass the transaction of the change. Returns the deliveries made.
 */
export async function enqueueWebhookEvents(db: Db | DbTx, events: readonly Event[], at = dbNow()): Promise<number> {
  if (events.length === 0) return 0;
  const bodies = JSON.stringify(events.map((e) => envelope(e, at)));
  const rows = await db.$queryRaw<{ n: bigint }[]>`
    WITH made AS (
      INSERT INTO "WebhookDelivery" (id, "webhookId", event, payload, "nextAttemptAt", "createdAt", "updatedAt")
      SELECT gen_random_uuid()::text, w.id, e->>'event', e, ${at}, ${at}, ${at}
      FROM jsonb_array_elements(${bodies}::jsonb) AS e
      JOIN "Webhook" w ON w.enabled AND (e->>'event') = ANY(w.events)
      RETURNING 1)
    SELECT count(*) AS n FROM made`;
  return Number(rows[0]?.n ?? 0);
}

/**
 * For the proposals feature: a proposal awaits review. Call it with the transaction that puts the
 * proposal in that state, so the event commits (or not) with it.
 */
export function enqueueProposalAwaitingReview(db: Db | DbTx, data: ProposalAwaitingReviewData): Promise<number> {
  return enqueueWebhookEvents(db, [{ kind: "proposal.awaiting_review", data }]);
}

/** A test event for one webhook, whatever events it wants. Returns the delivery's id. */
export async function enqueueTestEvent(db: Db | DbTx, webhook: { id: string; name: string }, requestedBy: string): Promise<string> {
  const body = envelope({ kind: WEBHOOK_TEST_EVENT, data: { webhook, requestedBy, message: "A test event from Switchyard: this webhook's URL and signature check work." } }, dbNow());
  const row = await db.webhookDelivery.create({ data: { webhookId: webhook.id, event: WEBHOOK_TEST_EVENT, payload: body as object, nextAttemptAt: dbNow() }, select: { id: true } });
  return row.id;
}

/**
 * operation.failed for operations that just failed for good (agentWork.ts calls it in the
 * transaction that closes them). Only operations that are `failed` now count.
 */
export async function enqueueOperationsFailed(db: Db | DbTx, operationIds: readonly string[], at = dbNow()): Promise<number> {
  if (operationIds.length === 0) return 0;
  const rows = await db.operation.findMany({
    where: { id: { in: [...operationIds] }, status: "failed" },
    select: { id: true, kind: true, attempt: true, error: true, host: { select: { id: true, name: true } }, attachment: { select: { id: true, containerId: true, ifName: true, networkName: true } } },
  });
  return enqueueWebhookEvents(
    db,
    rows.map((o) => ({ kind: "operation.failed" as const, data: { operation: { id: o.id, kind: o.kind, attempt: o.attempt, error: o.error }, host: o.host, attachment: o.attachment } })),
    at,
  );
}

/**
 * host.offline: hosts (not revoked) unseen for OFFLINE_AFTER_MS that have not been announced for
 * this silence (the heartbeat they were last seen at). Liveness is otherwise computed on read;
 * this is the one place that turns it into an event. Several replicas may scan at once: the
 * notice's upsert lets one of them announce each silence.
 */
export async function announceOfflineHosts(db: Db, now = dbNow()): Promise<{ announced: number }> {
  const cutoff = new Date(now.getTime() - OFFLINE_AFTER_MS);
  return db.$transaction(async (tx) => {
    const hosts = await tx.$queryRaw<{ id: string; name: string; lastSeenAt: Date }[]>`
      WITH silent AS (
        SELECT h.id, h.name, h."lastSeenAt" FROM "Host" h
        WHERE h."revokedAt" IS NULL AND h."lastSeenAt" IS NOT NULL AND h."lastSeenAt" < ${cutoff}),
      noticed AS (
        INSERT INTO "WebhookHostNotice" ("hostId", "lastSeenAt")
        SELECT id, "lastSeenAt" FROM silent
        ON CONFLICT ("hostId") DO UPDATE SET "lastSeenAt" = EXCLUDED."lastSeenAt"
          WHERE "WebhookHostNotice"."lastSeenAt" IS DISTINCT FROM EXCLUDED."lastSeenAt"
        RETURNING "hostId")
      SELECT s.id, s.name, s."lastSeenAt" FROM silent s JOIN noticed n ON n."hostId" = s.id`;
    await tx.$executeRaw`DELETE FROM "WebhookHostNotice" n WHERE NOT EXISTS (SELECT 1 FROM "Host" h WHERE h.id = n."hostId")`;
    await enqueueWebhookEvents(
      tx,
      hosts.map((h) => ({ kind: "host.offline" as const, data: { host: { id: h.id, name: h.name }, lastSeenAt: h.lastSeenAt.toISOString(), offlineAfterMs: OFFLINE_AFTER_MS } })),
      now,
    );
    return { announced: hosts.length };
  });
}

interface LeakRow {
  hostId: string;
  hostName: string;
  networkName: string;
  networkId: string | null;
  address: string;
  containerId: string;
  ifName: string;
  netns: string;
  netnsAlive: boolean | null;
  since: Date;
}

/**
 * ipam.leak: leases judged leaks (the SQL form of judgeLease's "leak": the holder's namespace is
 * gone, or no live console attachment and no result cache entry) that were not yet announced for
 * their holder. One event per host and network per scan. A notice goes when its lease goes or
 * changes holder, so an address leaked again later is announced again.
 */
export async function announceLeaks(db: Db, now = dbNow()): Promise<{ announced: number }> {
  return db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<LeakRow[]>`
      WITH leaks AS (
        SELECT l."hostId", h.name AS "hostName", l."networkName", l."networkId", l.address, l."containerId", l."ifName", l.netns, l."netnsAlive", l.since
        FROM "Lease" l JOIN "Host" h ON h.id = l."hostId"
        WHERE l."containerId" <> ${RESERVATION_CONTAINER_ID}
          AND (l."netnsAlive" IS FALSE OR (NOT l.held AND l.netns = '' AND (l."seenIn" & ${SEEN_IN.resultCache}) = 0))
          AND NOT EXISTS (SELECT 1 FROM "WebhookLeakNotice" n
            WHERE n."hostId" = l."hostId" AND n."networkName" = l."networkName" AND n.address = l.address AND n.since = l.since)
        ORDER BY l.since
        LIMIT ${LEAKS_PER_SCAN}),
      noticed AS (
        INSERT INTO "WebhookLeakNotice" ("hostId", "networkName", address, since, "createdAt")
        SELECT "hostId", "networkName", address, since, ${now} FROM leaks
        ON CONFLICT ("hostId", "networkName", address) DO UPDATE SET since = EXCLUDED.since, "createdAt" = EXCLUDED."createdAt"
          WHERE "WebhookLeakNotice".since IS DISTINCT FROM EXCLUDED.since
        RETURNING "hostId", "networkName", address)
      SELECT l."hostId", l."hostName", l."networkName", l."networkId", host(l.address) AS address, l."containerId", l."ifName", l.netns, l."netnsAlive", l.since
      FROM leaks l JOIN noticed n ON n."hostId" = l."hostId" AND n."networkName" = l."networkName" AND n.address = l.address
      ORDER BY l."hostId", l."networkName", l.address`;
    await tx.$executeRaw`
      DELETE FROM "WebhookLeakNotice" n WHERE NOT EXISTS (SELECT 1 FROM "Lease" l
        WHERE l."hostId" = n."hostId" AND l."networkName" = n."networkName" AND l.address = n.address AND l.since = n.since)`;
    const groups = new Map<string, LeakRow[]>();
    for (const r of rows) {
      const key = `${r.hostId}\n${r.networkName}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    await enqueueWebhookEvents(
      tx,
      [...groups.values()].map((g) => ({
        kind: "ipam.leak" as const,
        data: {
          host: { id: g[0]!.hostId, name: g[0]!.hostName },
          networkName: g[0]!.networkName,
          networkId: g[0]!.networkId,
          leaks: g.slice(0, LEAKS_PER_EVENT).map((r) => ({ address: r.address, containerId: r.containerId, ifName: r.ifName, netns: r.netns, netnsGone: r.netnsAlive === false, since: r.since.toISOString() })),
          more: Math.max(0, g.length - LEAKS_PER_EVENT),
        },
      })),
      now,
    );
    return { announced: rows.length };
  });
}
