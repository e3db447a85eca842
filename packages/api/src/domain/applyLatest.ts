import type { Db } from "@switchyard/db";
import { writeAudit } from "../audit";
import { ApiError } from "../errors";
import type { Ctx } from "./networks";

/** Attachments listed by name in a usage answer at most; the counts cover all. */
const USAGE_SAMPLE = 100;
/** Above this many queued operations, one "work" event per host stands for their status events. */
const MAX_STATUS_EVENTS = 100;

async function findNetwork(db: Db, id: string) {
  const network = await db.network.findUnique({ where: { id }, select: { id: true, name: true, latestRevision: true } });
  if (!network) throw new ApiError("NOT_FOUND", `Network ${id} not found`);
  return network;
}

/**
 * Which attachments (and hosts) run this network, and at which revision: shown before an edit is
 * saved (they keep their revision until the latest is applied to them) and beside "apply the
 * latest revision". Counts for all, names for the first USAGE_SAMPLE (oldest revisions first).
 */
export async function networkUsage(db: Db, id: string) {
  const network = await findNetwork(db, id);
  const hosts = await db.$queryRaw<{ hostId: string; hostName: string; attachments: number; behind: number }[]>`
    SELECT a."hostId", h.name AS "hostName", count(*)::int AS attachments,
           (count(*) FILTER (WHERE a."networkRevision" < ${network.latestRevision}::int))::int AS behind
    FROM "Attachment" a JOIN "Host" h ON h.id = a."hostId"
    WHERE a."networkId" = ${id}::text AND a.present
    GROUP BY a."hostId", h.name
    ORDER BY h.name`;
  const attachments = await db.attachment.findMany({
    where: { networkId: id, present: true },
    orderBy: [{ networkRevision: "asc" }, { createdAt: "asc" }],
    take: USAGE_SAMPLE,
    select: { id: true, hostId: true, host: { select: { name: true } }, containerId: true, ifName: true, networkRevision: true, state: true },
  });
  return {
    networkId: id,
    latestRevision: network.latestRevision,
    total: hosts.reduce((n, h) => n + h.attachments, 0),
    behind: hosts.reduce((n, h) => n + h.behind, 0),
    hosts,
    attachments: attachments.map(({ host, ...a }) => ({ ...a, hostName: host.name })),
  };
}

/** The revision an attachment runs against its network's latest, and whether the latest can be applied now. */
export async function attachmentRevision(db: Db, attachmentId: string) {
  const a = await db.attachment.findUnique({
    where: { id: attachmentId },
    select: { id: true, networkId: true, networkName: true, networkRevision: true, present: true, state: true, network: { select: { name: true, latestRevision: true } } },
  });
  if (!a) throw new ApiError("NOT_FOUND", "No attachment with this id");
  const busy = await db.operation.count({ where: { attachmentId, status: { in: ["queued", "running"] } } });
  const reason = applyRefusal({ ...a, busy: busy > 0, currentName: a.network.name, latestRevision: a.network.latestRevision });
  return { attachmentId, networkId: a.networkId, networkName: a.networkName, running: a.networkRevision, latest: a.network.latestRevision, canApply: reason === null, reason };
}

/** Why the latest revision cannot be applied to an attachment now, or null. */
function applyRefusal(a: { present: boolean; state: string; busy: boolean; networkName: string; currentName: string; networkRevision: number; latestRevision: number }): string | null {
  if (!a.present) return "it is detached or detaching";
  if (a.networkRevision >= a.latestRevision) return `it already runs the latest revision (r${a.latestRevision})`;
  if (a.busy || (a.state !== "ready" && a.state !== "failed")) return `an operation on it is still queued or running (it is ${a.state})`;
  // Its cache entry and leases are named after the network: a rename is a detach and a new attach.
  if (a.networkName !== a.currentName) return `the network was renamed from "${a.networkName}" to "${a.currentName}": detach it and attach it again`;
  return null;
}

/**
 * Queues "apply the latest revision" (a reapply operation: DEL with the revision the attachment
 * runs, ADD with the latest) for the network's attachments that run an older revision, or for
 * `attachmentIds` of them. Only settled attachments (ready or failed, nothing queued or running)
 * are queued; the rest are reported with the reason. One statement whatever the number; the
 * network row is locked so two requests do not queue the same attachment twice.
 */
export async function applyLatest(ctx: Ctx, input: { networkId: string; attachmentIds?: string[] }) {
  const user = ctx.session!.user;
  const out = await ctx.db.$transaction(async (tx) => {
    const [network] = await tx.$queryRaw<{ id: string; name: string; latestRevision: number }[]>`
      SELECT id, name, "latestRevision" FROM "Network" WHERE id = ${input.networkId}::text FOR UPDATE`;
    if (!network) throw new ApiError("NOT_FOUND", `Network ${input.networkId} not found`);
    const ids = input.attachmentIds ? JSON.stringify(input.attachmentIds) : null;
    const queued = await tx.$queryRaw<{ id: string; attachmentId: string; hostId: string }[]>`
      INSERT INTO "Operation" ("hostId", "attachmentId", kind, generation, "toRevision", "requestedById", "requestedByName")
      SELECT a."hostId", a.id, 'reapply', a.generation, ${network.latestRevision}::int, ${user.id}::text, ${user.username}::text
      FROM "Attachment" a
      WHERE a."networkId" = ${network.id}::text AND a.present AND a.state IN ('ready', 'failed')
        AND a."networkRevision" < ${network.latestRevision}::int AND a."networkName" = ${network.name}::text
        AND (${ids}::jsonb IS NULL OR a.id IN (SELECT jsonb_array_elements_text(${ids}::jsonb)))
        AND NOT EXISTS (SELECT 1 FROM "Operation" o WHERE o."attachmentId" = a.id AND o.status IN ('queued', 'running'))
      RETURNING id, "attachmentId", "hostId"`;
    await writeAudit(tx, ctx, {
      action: "networks.applyLatest",
      targetType: "network",
      targetId: network.id,
      after: { name: network.name, revision: network.latestRevision, queued: queued.length, attachmentIds: queued.slice(0, 100).map((q) => q.attachmentId) },
      outcome: "success",
    });
    return { network, queued };
  });
  for (const hostId of new Set(out.queued.map((q) => q.hostId))) ctx.events.publish("host", { kind: "work", hostId });
  if (out.queued.length <= MAX_STATUS_EVENTS) {
    for (const q of out.queued) ctx.events.publish("operation", { kind: "status", operationId: q.id, attachmentId: q.attachmentId, hostId: q.hostId, status: "queued" });
  }
  const queuedIds = new Set(out.queued.map((q) => q.attachmentId));
  const skipped = [];
  for (const id of (input.attachmentIds ?? []).filter((i) => !queuedIds.has(i))) {
    const why = await attachmentRevision(ctx.db, id).catch(() => null);
    skipped.push({ attachmentId: id, reason: why === null || why.networkId !== out.network.id ? "not an attachment of this network" : (why.reason ?? "it changed meanwhile") });
  }
  return { revision: out.network.latestRevision, queued: out.queued.map((q) => ({ attachmentId: q.attachmentId, operationId: q.id })), skipped };
}
