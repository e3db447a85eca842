import { type Db, Prisma } from "@switchyard/db";
import { writeAudit } from "../audit";
import { ApiError } from "../errors";
import { PROBE_LIMITS, ProbeResult, type ProbeTask, type ReportProbeInput, type StartProbeInput } from "../schemas/serviceProbe";
import type { Ctx } from "./networks";
import { getService } from "./serviceRead";
import { dbNow } from "../clock";

/**
 * Probes of services (issue 12): an operator asks a host that carries a service to send a bounded
 * number of connections to its VIP (from the host itself or one of its ready attachments), the row
 * is kept (pending → running → done/failed, with who asked and the result), and the host's agent
 * is rung over its work stream. A probe nobody takes within PROBE_LIMITS.pickupMs fails: the host
 * is offline. Expiry is applied whenever probes are read or claimed (no timer in the console).
 */

type AgentCtx = Pick<Ctx, "db" | "events"> & { agent: { hostId: string; hostName: string } };

const bad = (path: string, message: string) => new ApiError("BAD_INPUT", message, [{ path: [path], message, severity: "error" }]);

const PROBE_SELECT = {
  id: true,
  serviceId: true,
  hostId: true,
  host: { select: { name: true } },
  vip: true,
  protocol: true,
  port: true,
  sourceKind: true,
  attachmentId: true,
  sourceName: true,
  count: true,
  status: true,
  requestedByName: true,
  createdAt: true,
  deadline: true,
  startedAt: true,
  finishedAt: true,
  result: true,
  error: true,
} as const;

/** A probe as the pages read it (the result parsed: a row written by an older agent reads as no result). */
function toProbe(row: Prisma.ServiceProbeGetPayload<{ select: typeof PROBE_SELECT }>) {
  const { host, result, ...rest } = row;
  const parsed = result === null ? null : ProbeResult.safeParse(result);
  return { ...rest, hostName: host.name, result: parsed?.success ? parsed.data : null };
}
export type ServiceProbeView = ReturnType<typeof toProbe>;

/** Fails the probes whose agent never took them (host offline) or never reported. */
export async function expireProbes(db: Db, now = dbNow()): Promise<number> {
  const pickup = await db.serviceProbe.updateMany({
    where: { status: "pending", deadline: { lt: now } },
    data: { status: "failed", finishedAt: now, error: `not taken by the host's agent within ${PROBE_LIMITS.pickupMs / 1000} s: the host is offline or its agent is not connected` },
  });
  const report = await db.serviceProbe.updateMany({
    where: { status: "running", startedAt: { lt: new Date(now.getTime() - PROBE_LIMITS.reportMs) } },
    data: { status: "failed", finishedAt: now, error: `the host's agent took the probe but reported no result within ${PROBE_LIMITS.reportMs / 1000} s (it may have restarted)` },
  });
  return pickup.count + report.count;
}

/** Checks what an operator asked for against the database; throws naming the value and what would be right. */
async function checkProbe(ctx: Ctx, input: StartProbeInput) {
  const service = await getService(ctx.db, input.serviceId);
  const port = service.spec.ports.find((p) => p.protocol === input.protocol && p.port === input.port);
  if (!port) {
    throw bad("port", `port ${input.port}/${input.protocol} is not a port of service ${service.name}: its ports are ${service.spec.ports.map((p) => `${p.port}/${p.protocol}`).join(", ")}`);
  }
  const host = await ctx.db.host.findUnique({ where: { id: input.hostId }, select: { id: true, name: true, revokedAt: true } });
  if (!host || host.revokedAt) throw bad("hostId", `host ${input.hostId} does not exist or is revoked`);
  const row = service.hosts.find((h) => h.hostId === host.id);
  if (!row) throw bad("hostId", `host ${host.name} does not carry service ${service.name}: its host selector does not choose it`);
  if (!row.applied) {
    throw bad("hostId", `host ${host.name} has not applied service ${service.name}'s last change${row.error ? ` (its error: ${row.error})` : ""}: probe it once the host shows applied`);
  }
  await expireProbes(ctx.db); // probes past their deadline do not hold a place
  const outstanding = await ctx.db.serviceProbe.count({ where: { hostId: host.id, status: { in: ["pending", "running"] } } });
  if (outstanding >= PROBE_LIMITS.outstandingPerHost) {
    throw new ApiError("CONFLICT", `host ${host.name} already has ${outstanding} probes under way (at most ${PROBE_LIMITS.outstandingPerHost}): run this one when they finish`);
  }
  if (input.source.kind === "host") return { service, host, sourceName: host.name, attachmentId: null };
  const a = await ctx.db.attachment.findUnique({ where: { id: input.source.attachmentId }, select: { id: true, hostId: true, state: true, present: true, containerId: true, ifName: true } });
  if (!a) throw bad("source", `attachment ${input.source.attachmentId} does not exist`);
  if (a.hostId !== host.id) throw bad("source", `attachment ${a.containerId}/${a.ifName} is not on host ${host.name}: a probe leaves from an attachment on the chosen host`);
  if (a.state !== "ready" || !a.present) throw bad("source", `attachment ${a.containerId}/${a.ifName} is ${a.present ? a.state : "being detached"}, not ready: a probe leaves from a ready attachment's namespace`);
  return { service, host, sourceName: `${a.containerId}/${a.ifName}`, attachmentId: a.id };
}

/** Starts a probe (operator, audited): the row, then the doorbell of the host's agent. */
export async function startProbe(ctx: Ctx, input: StartProbeInput): Promise<ServiceProbeView> {
  const actor = ctx.session!.user;
  const { service, host, sourceName, attachmentId } = await checkProbe(ctx, input);
  const now = dbNow();
  const probe = await ctx.db.$transaction(async (tx) => {
    const created = await tx.serviceProbe.create({
      data: {
        serviceId: service.id,
        hostId: host.id,
        vip: service.vip,
        protocol: input.protocol,
        port: input.port,
        sourceKind: input.source.kind,
        attachmentId,
        sourceName,
        count: input.count,
        requestedById: actor.id,
        requestedByName: actor.username,
        createdAt: now,
        deadline: new Date(now.getTime() + PROBE_LIMITS.pickupMs),
      },
      select: PROBE_SELECT,
    });
    await writeAudit(tx, ctx, {
      action: "services.probe",
      targetType: "service",
      targetId: service.id,
      targetName: service.name,
      after: { probeId: created.id, host: host.name, source: sourceName, port: `${input.port}/${input.protocol}`, count: input.count },
      outcome: "success",
    });
    return created;
  });
  ctx.events.publish("host", { kind: "probe", hostId: host.id });
  return toProbe(probe);
}

/** One probe (viewer). */
export async function getProbe(db: Db, id: string): Promise<ServiceProbeView> {
  await expireProbes(db);
  const row = await db.serviceProbe.findUnique({ where: { id }, select: PROBE_SELECT });
  if (!row) throw new ApiError("NOT_FOUND", `Probe ${id} does not exist`);
  return toProbe(row);
}

/** A service's recent probes, newest first (viewer). */
export async function listProbes(db: Db, serviceId: string, limit = 10): Promise<ServiceProbeView[]> {
  await expireProbes(db);
  const rows = await db.serviceProbe.findMany({ where: { serviceId }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: limit, select: PROBE_SELECT });
  return rows.map(toProbe);
}

/**
 * The agent takes its host's pending probes: each is marked running in the same statement that
 * finds it (two claims never both take one), and handed over as a task the agent checks again.
 */
export async function claimProbes(ctx: AgentCtx): Promise<ProbeTask[]> {
  const now = dbNow();
  await expireProbes(ctx.db, now);
  const at = now.toISOString();
  const taken = await ctx.db.$queryRaw<{ id: string; vip: string; protocol: string; port: number; count: number; attachmentId: string | null }[]>`
    UPDATE "ServiceProbe" SET status = 'running', "startedAt" = (${at}::timestamptz AT TIME ZONE 'UTC')
    WHERE "hostId" = ${ctx.agent.hostId} AND status = 'pending' AND deadline >= (${at}::timestamptz AT TIME ZONE 'UTC')
    RETURNING id, vip, protocol, port, count, "attachmentId"`;
  if (taken.length === 0) return [];
  const ids = taken.map((t) => t.attachmentId).filter((a): a is string => a !== null);
  const targets = new Map((await ctx.db.attachment.findMany({ where: { id: { in: ids } }, select: { id: true, targetKind: true, target: true } })).map((a) => [a.id, a]));
  ctx.events.publish("host", { kind: "seen", hostId: ctx.agent.hostId });
  return taken.map((t) => {
    const a = t.attachmentId === null ? null : targets.get(t.attachmentId);
    return {
      id: t.id,
      vip: t.vip,
      protocol: t.protocol as ProbeTask["protocol"],
      port: t.port,
      count: t.count,
      // An attachment purged since it was asked for: the agent refuses the empty target.
      namespace: t.attachmentId === null ? null : { targetKind: a?.targetKind ?? "netns", target: a?.target ?? "" },
    };
  });
}

/** The agent's outcome of one of its own running probes; anything else is refused (recorded: false). */
export async function reportProbe(ctx: AgentCtx, input: ReportProbeInput): Promise<{ recorded: boolean }> {
  const now = dbNow();
  const data =
    input.status === "running"
      ? // It starts sending now: the report deadline counts from here (it may have waited behind another probe).
        { startedAt: now }
      : input.status === "done"
        ? { status: "done" as const, result: input.result as Prisma.InputJsonValue, finishedAt: now }
        : { status: "failed" as const, error: input.error, finishedAt: now };
  const updated = await ctx.db.serviceProbe.updateMany({ where: { id: input.id, hostId: ctx.agent.hostId, status: "running" }, data });
  // The service page's doorbell (the probe panel reads through services.*).
  if (updated.count > 0) ctx.events.publish("host", { kind: "seen", hostId: ctx.agent.hostId });
  return { recorded: updated.count > 0 };
}
