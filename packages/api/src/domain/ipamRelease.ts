import { Prisma } from "@switchyard/db";
import { writeAudit } from "../audit";
import type { AgentIdentity, Context } from "../context";
import { ApiError } from "../errors";
import { type ClaimedRelease, type CompleteReleaseInput, type ReleaseItem, ClaimedRelease as ClaimedReleaseSchema } from "../schemas/ipamRelease";
import { detachAttachment } from "./attachments";
import { dryRunRelease } from "./ipamLeaks";
import { dbNow } from "../clock";

type Ctx = Pick<Context, "db" | "events" | "session" | "meta" | "reservedHostPorts">;
type AgentCtx = Pick<Context, "db" | "events" | "meta"> & { agent: AgentIdentity };

/** How long an agent holds a claimed release before it is handed out again (its steps are idempotent). */
export const RELEASE_CLAIM_MS = 5 * 60_000;
/** Releases one page lists. */
const RELEASES_LISTED = 20;

export interface ReleaseRequest {
  networkId: string;
  hostId: string;
  addresses: string[];
}

/**
 * Releases leaked addresses of one host, after the same judgement as the dry run: if any address
 * is refused (live, another runtime's, unknown), nothing is done and the error names each. An
 * address a console attachment holds (its namespace gone) is released by that attachment's detach;
 * the rest become one release the host's agent carries out, audited step by step.
 */
export async function requestRelease(ctx: Ctx, input: ReleaseRequest) {
  const plans = await dryRunRelease(ctx.db, input);
  const refused = plans.filter((p) => p.refusal !== null);
  // The refusal is audited as every refused mutation is (trpc.ts), with this message.
  if (refused.length > 0) {
    throw new ApiError("CONFLICT", `Nothing was released: ${refused.map((p) => p.refusal).join("; ")}`);
  }
  const network = await ctx.db.network.findUnique({ where: { id: input.networkId }, select: { name: true } });
  if (!network) throw new ApiError("NOT_FOUND", `network ${input.networkId} does not exist`);
  const attachmentIds = [...new Set(plans.flatMap((p) => p.steps.filter((s) => s.kind === "detach").map((s) => s.attachmentId!)))];
  const items: ReleaseItem[] = plans.filter((p) => !p.steps.some((s) => s.kind === "detach")).map((p) => ({ address: p.address, containerId: p.containerId, ifName: p.ifName }));
  let releaseId: string | null = null;
  if (items.length > 0) {
    releaseId = await ctx.db.$transaction(async (tx) => {
      const release = await tx.ipamRelease.create({
        data: { networkId: input.networkId, hostId: input.hostId, networkName: network.name, items, requestedById: ctx.session?.user.id ?? null, requestedByName: ctx.session?.user.username ?? "" },
        select: { id: true },
      });
      await writeAudit(tx, ctx, { action: "ipam.release", targetType: "network", targetId: input.networkId, after: { releaseId: release.id, hostId: input.hostId, items }, outcome: "success", message: `release of ${items.map((i) => i.address).join(", ")} on ${plans[0]!.hostName} queued for its agent` });
      return release.id;
    });
    ctx.events.publish("host", { kind: "release", hostId: input.hostId });
  }
  const detaching = [];
  for (const id of attachmentIds) {
    const { operation } = await detachAttachment(ctx, id);
    detaching.push({ attachmentId: id, operationId: operation?.id ?? null });
  }
  if (detaching.length > 0) {
    await writeAudit(ctx.db, ctx, { action: "ipam.release", targetType: "network", targetId: input.networkId, after: { hostId: input.hostId, detaching }, outcome: "success", message: `released by detaching console attachment${detaching.length === 1 ? "" : "s"} ${attachmentIds.join(", ")} (namespace gone)` });
  }
  return { releaseId, detaching };
}

/**
 * Hands the agent its host's queued releases (and running ones whose claim ran out), marked
 * running. The payload is checked with the agent's own schema before it leaves.
 */
export async function claimReleases(ctx: AgentCtx): Promise<ClaimedRelease[]> {
  const rows = await ctx.db.$queryRaw<{ id: string; networkName: string; items: unknown; requestedByName: string }[]>`
    UPDATE "IpamRelease" SET status = 'running', "claimedUntil" = now() + ${`${RELEASE_CLAIM_MS} milliseconds`}::interval
    WHERE id IN (
      SELECT id FROM "IpamRelease"
      WHERE "hostId" = ${ctx.agent.hostId} AND (status = 'queued' OR (status = 'running' AND "claimedUntil" < now()))
      ORDER BY "createdAt" LIMIT 10 FOR UPDATE SKIP LOCKED)
    RETURNING id, "networkName", items, "requestedByName"`;
  return rows.map((r) => ClaimedReleaseSchema.parse({ releaseId: r.id, networkName: r.networkName, items: r.items, requestedByName: r.requestedByName }));
}

/**
 * What the agent did: the release succeeds when every address is free. Every step goes to the
 * audit log (as the host, on behalf of who asked), every freed address gets a "reclaimed" event in
 * its history. The leases themselves leave with the agent's next IPAM report, as any release does.
 */
export async function completeRelease(ctx: AgentCtx, input: CompleteReleaseInput) {
  const release = await ctx.db.ipamRelease.findFirst({ where: { id: input.releaseId, hostId: ctx.agent.hostId }, select: { id: true, status: true, networkId: true, networkName: true, items: true, requestedByName: true } });
  if (!release) throw new ApiError("NOT_FOUND", `release ${input.releaseId} is not this host's`);
  if (release.status !== "running") return { status: release.status, refused: "notRunning" as const };
  const asked = new Map((release.items as ReleaseItem[]).map((i) => [i.address, i]));
  const reported = input.addresses.filter((a) => asked.has(a.address));
  const freed = reported.filter((a) => a.freed);
  const notFreed = [...asked.keys()].filter((a) => !freed.some((f) => f.address === a));
  const status = notFreed.length === 0 ? ("succeeded" as const) : ("failed" as const);
  const error = notFreed.length === 0 ? "" : `still held on ${ctx.agent.hostName}: ${notFreed.join(", ")}`;
  const actorName = `host:${ctx.agent.hostName}`;
  await ctx.db.$transaction(async (tx) => {
    await tx.ipamRelease.update({ where: { id: release.id }, data: { status, outcome: reported as unknown as Prisma.InputJsonValue, error, finishedAt: dbNow(), claimedUntil: null } });
    for (const a of reported) {
      for (const step of a.steps) {
        await writeAudit(tx, { session: null, meta: ctx.meta }, {
          action: `ipam.release.${step.kind}`,
          actorName,
          targetType: "network",
          targetId: release.networkId,
          after: { releaseId: release.id, address: a.address, outcome: step.outcome, requestedBy: release.requestedByName },
          outcome: step.outcome === "failed" ? "error" : step.outcome === "refused" ? "denied" : "success",
          message: `${a.address}: ${step.message}`,
        });
      }
    }
    if (freed.length > 0) {
      const holder = (address: string) => asked.get(address)!;
      await tx.leaseEvent.createMany({
        data: freed.map((a) => ({
          kind: "reclaimed" as const,
          networkName: release.networkName,
          address: a.address,
          hostId: ctx.agent.hostId,
          hostName: ctx.agent.hostName,
          containerId: holder(a.address).containerId,
          ifName: holder(a.address).ifName,
          actorName: release.requestedByName,
          detail: `released as a leak: ${a.steps.filter((s) => s.outcome === "done").map((s) => s.kind).join(", ") || "already free"}`,
        })),
      });
    }
  });
  ctx.events.publish("ipam", { kind: "leases", networkName: release.networkName, hostId: ctx.agent.hostId });
  return { status };
}

export interface ReleaseView {
  id: string;
  hostId: string;
  hostName: string;
  status: string;
  items: ReleaseItem[];
  outcome: CompleteReleaseInput["addresses"] | null;
  error: string;
  requestedByName: string;
  createdAt: Date;
  finishedAt: Date | null;
}

/** The latest releases of a network, newest first, with what the agent did. */
export async function listReleases(db: Ctx["db"], networkId: string): Promise<ReleaseView[]> {
  const rows = await db.ipamRelease.findMany({
    where: { networkId },
    orderBy: { createdAt: "desc" },
    take: RELEASES_LISTED,
    select: { id: true, hostId: true, host: { select: { name: true } }, status: true, items: true, outcome: true, error: true, requestedByName: true, createdAt: true, finishedAt: true },
  });
  return rows.map((r) => ({
    id: r.id,
    hostId: r.hostId,
    hostName: r.host.name,
    status: r.status,
    items: r.items as ReleaseItem[],
    outcome: (r.outcome as CompleteReleaseInput["addresses"] | null) ?? null,
    error: r.error,
    requestedByName: r.requestedByName,
    createdAt: r.createdAt,
    finishedAt: r.finishedAt,
  }));
}
