import { memberAddressProblem } from "@switchyard/dataplane/desired";
import { type DbTx, mapPrismaError, Prisma } from "@switchyard/db";
import { cidrContains, cidrsOverlap, parseCidr } from "@switchyard/ipam";
import { writeAudit } from "../audit";
import { ApiError } from "../errors";
import { ServiceSpec, type Labels } from "../schemas/services";
import type { Ctx } from "./networks";
import { allocateVip, serviceCidrs, vipProblem } from "./serviceVips";
import { notifyDeploy } from "./networkDeployments";

/**
 * Services (issue 12): create, edit (a new revision of the spec), roll back, delete; the service
 * CIDRs; labels on hosts and attachments. Every change that alters what hosts program is a
 * numbered ServiceChange in the same transaction: that number is the version every host's agent
 * is asked to reach (serviceDesired.ts computes what it means for one host).
 */

const asJson = (v: unknown) => v as Prisma.InputJsonValue;

/** Records a change hosts must converge to; returns its number. */
export async function recordServiceChange(tx: DbTx, change: { summary: string; serviceId?: string | null; actorName: string }): Promise<bigint> {
  const row = await tx.serviceChange.create({ data: { summary: change.summary.slice(0, 300), serviceId: change.serviceId ?? null, actorName: change.actorName }, select: { generation: true } });
  return row.generation;
}

/** The version hosts must reach now: the last change's number (0 before any). */
export async function currentServiceGeneration(tx: DbTx): Promise<bigint> {
  const row = await tx.serviceChange.findFirst({ orderBy: { generation: "desc" }, select: { generation: true } });
  return row?.generation ?? 0n;
}

export function publishChange(ctx: Pick<Ctx, "events">, generation: bigint) {
  ctx.events.publish("services", { kind: "changed", generation: Number(generation) });
}

/** What in a spec the database must agree with: manual members that are nobody's VIP and outside the service CIDRs, known hosts. */
export async function checkSpec(tx: DbTx, spec: ServiceSpec, family: 4 | 6): Promise<void> {
  const cidrs = await serviceCidrs(tx);
  const issues: { path: (string | number)[]; message: string; severity: "error" }[] = [];
  const hostIds = [...new Set(spec.manualMembers.map((m) => m.hostId).filter((h): h is string => h !== null))];
  const known = new Set((await tx.host.findMany({ where: { id: { in: hostIds } }, select: { id: true } })).map((h) => h.id));
  for (const [i, m] of spec.manualMembers.entries()) {
    const message = memberProblem(m.address, family, cidrs) ?? (m.hostId !== null && !known.has(m.hostId) ? `host ${m.hostId} does not exist` : null);
    if (message) issues.push({ path: ["spec", "manualMembers", i, "address"], message, severity: "error" });
  }
  if (issues.length) throw new ApiError("BAD_INPUT", issues.map((i) => i.message).join("; "), issues);
}

/** Why `address` cannot be a member of a service of `family` (added by hand or registered), or null. */
export function memberProblem(address: string, family: 4 | 6, cidrs: readonly string[]): string | null {
  const problem = memberAddressProblem(address);
  if (problem) return `${problem}: it cannot be a member`;
  if (address.includes(":") !== (family === 6)) return `${address} is not IPv${family}, like the service's VIP`;
  const inCidr = cidrs.find((c) => cidrContains(c, address) && parseCidr(c).ok && c.includes(":") === address.includes(":"));
  return inCidr ? `${address} is in the service CIDR ${inCidr}: a member must be a real endpoint, not a VIP` : null;
}

function rethrowTaken(err: unknown, name: string, vip: string): never {
  const mapped = mapPrismaError(err);
  if (mapped?.code === "CONFLICT") {
    const onVip = mapped.fields?.includes("vip");
    throw new ApiError("CONFLICT", onVip ? `${vip} is already a service's VIP` : `A service named "${name}" already exists`, [
      { path: [onVip ? "vip" : "name"], message: onVip ? `${vip} is taken` : `"${name}" is taken`, severity: "error" },
    ]);
  }
  throw err;
}

export async function createService(ctx: Ctx, input: { name: string; vip?: string; family: 4 | 6; spec: ServiceSpec; comment: string }) {
  const actor = ctx.session!.user;
  let vip = input.vip ?? "";
  const saved = await ctx.db
    .$transaction(async (tx) => {
      if (input.vip !== undefined) {
        const problem = await vipProblem(tx, input.vip);
        if (problem) throw new ApiError("BAD_INPUT", problem, [{ path: ["vip"], message: problem, severity: "error" }]);
      } else {
        vip = await allocateVip(tx, input.family);
      }
      const family = vip.includes(":") ? 6 : 4;
      await checkSpec(tx, input.spec, family);
      const service = await tx.service.create({
        data: { name: input.name, vip, family, latestRevision: 1, createdByName: actor.username, revisions: { create: { number: 1, spec: asJson(input.spec), comment: input.comment, authorName: actor.username } } },
        select: { id: true, name: true, vip: true },
      });
      const generation = await recordServiceChange(tx, { summary: `${input.name}: created`, serviceId: service.id, actorName: actor.username });
      await writeAudit(tx, ctx, { action: "services.create", targetType: "service", targetId: service.id, targetName: service.name, after: { name: service.name, vip, revision: 1, spec: input.spec }, outcome: "success" });
      return { ...service, revision: 1, generation };
    })
    .catch((err: unknown) => rethrowTaken(err, input.name, vip));
  publishChange(ctx, saved.generation);
  return { id: saved.id, name: saved.name, vip: saved.vip, revision: saved.revision };
}

async function writeServiceRevision(ctx: Ctx, input: { id: string; spec: ServiceSpec; comment: string; expectedRevision: number; action: string }) {
  const actor = ctx.session!.user;
  const saved = await ctx.db.$transaction(async (tx) => {
    const before = await tx.service.findUnique({ where: { id: input.id }, select: { name: true, vip: true, family: true, latestRevision: true } });
    if (!before) throw new ApiError("NOT_FOUND", `Service ${input.id} does not exist`);
    if (before.latestRevision !== input.expectedRevision) {
      throw new ApiError("STALE_REVISION", `Service "${before.name}" is at revision ${before.latestRevision}, not ${input.expectedRevision}: reload and reapply your change`);
    }
    await checkSpec(tx, input.spec, before.family as 4 | 6);
    const number = before.latestRevision + 1;
    const { count } = await tx.service.updateMany({ where: { id: input.id, latestRevision: before.latestRevision }, data: { latestRevision: number } });
    if (count !== 1) throw new ApiError("STALE_REVISION", `Service "${before.name}" changed while saving: reload and retry`);
    const previous = await tx.serviceRevision.findUniqueOrThrow({ where: { serviceId_number: { serviceId: input.id, number: before.latestRevision } }, select: { spec: true } });
    await tx.serviceRevision.create({ data: { serviceId: input.id, number, spec: asJson(input.spec), comment: input.comment, authorName: actor.username } });
    const generation = await recordServiceChange(tx, { summary: `${before.name}: revision ${number}${input.comment ? ` (${input.comment})` : ""}`, serviceId: input.id, actorName: actor.username });
    await writeAudit(tx, ctx, {
      action: input.action,
      targetType: "service",
      targetId: input.id,
      targetName: before.name,
      before: { revision: before.latestRevision, spec: previous.spec },
      after: { revision: number, spec: input.spec },
      outcome: "success",
    });
    return { id: input.id, name: before.name, vip: before.vip, revision: number, generation };
  });
  publishChange(ctx, saved.generation);
  return { id: saved.id, name: saved.name, vip: saved.vip, revision: saved.revision };
}

export function updateService(ctx: Ctx, input: { id: string; spec: ServiceSpec; comment: string; expectedRevision: number }) {
  return writeServiceRevision(ctx, { ...input, action: "services.update" });
}

export async function rollbackService(ctx: Ctx, input: { id: string; toRevision: number; expectedRevision: number }) {
  const target = await ctx.db.serviceRevision.findUnique({ where: { serviceId_number: { serviceId: input.id, number: input.toRevision } }, select: { spec: true } });
  if (!target) throw new ApiError("NOT_FOUND", `Service ${input.id} has no revision ${input.toRevision}`);
  // Validated again: the rules may have tightened since the old revision was saved.
  const parsed = ServiceSpec.safeParse(target.spec);
  if (!parsed.success) throw new ApiError("BAD_INPUT", `Revision ${input.toRevision} is no longer valid: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  return writeServiceRevision(ctx, { id: input.id, spec: parsed.data, comment: `Rollback to revision ${input.toRevision}`, expectedRevision: input.expectedRevision, action: "services.rollback" });
}

export async function deleteService(ctx: Ctx, input: { id: string; confirmName: string }): Promise<void> {
  const actor = ctx.session!.user;
  const generation = await ctx.db.$transaction(async (tx) => {
    const before = await tx.service.findUnique({ where: { id: input.id }, select: { name: true, vip: true, latestRevision: true } });
    if (!before) throw new ApiError("NOT_FOUND", `Service ${input.id} does not exist`);
    if (before.name !== input.confirmName) {
      throw new ApiError("BAD_INPUT", `Type the service's name "${before.name}" to confirm deletion`, [{ path: ["confirmName"], message: `must be "${before.name}"`, severity: "error" }]);
    }
    await tx.service.delete({ where: { id: input.id } });
    const generation = await recordServiceChange(tx, { summary: `${before.name}: deleted`, serviceId: input.id, actorName: actor.username });
    await writeAudit(tx, ctx, { action: "services.delete", targetType: "service", targetId: input.id, targetName: before.name, before, outcome: "success" });
    return generation;
  });
  publishChange(ctx, generation);
}

/** Replaces the service CIDRs. A CIDR that still holds a VIP stays; two that overlap are refused. */
export async function setServiceCidrs(ctx: Ctx, input: { cidrs: string[] }) {
  const actor = ctx.session!.user;
  const cidrs = [...new Set(input.cidrs)];
  for (let i = 0; i < cidrs.length; i++) {
    for (let j = i + 1; j < cidrs.length; j++) {
      if (cidrsOverlap(cidrs[i]!, cidrs[j]!)) throw new ApiError("BAD_INPUT", `${cidrs[i]} and ${cidrs[j]} overlap: give each address range once`);
    }
  }
  const generation = await ctx.db.$transaction(async (tx) => {
    const before = await serviceCidrs(tx);
    const orphaned = await tx.$queryRaw<{ name: string; vip: string }[]>`
      SELECT name, host(vip) AS vip FROM "Service" s
      WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(${JSON.stringify(cidrs)}::jsonb) AS c WHERE s.vip <<= c::inet)
      ORDER BY name LIMIT 5`;
    if (orphaned.length) {
      throw new ApiError("CONFLICT", `Services still hold VIPs outside these CIDRs: ${orphaned.map((o) => `${o.name} (${o.vip})`).join(", ")}. Delete them or keep their CIDR`);
    }
    await tx.serviceCidr.deleteMany({ where: { cidr: { notIn: cidrs } } });
    for (const cidr of cidrs) {
      await tx.serviceCidr.upsert({ where: { cidr }, create: { cidr, family: cidr.includes(":") ? 6 : 4, createdByName: actor.username }, update: {} });
    }
    const generation = await recordServiceChange(tx, { summary: `service CIDRs: ${cidrs.join(", ") || "none"}`, actorName: actor.username });
    await writeAudit(tx, ctx, { action: "services.setCidrs", targetType: "settings", targetName: "service CIDRs", before: { cidrs: before }, after: { cidrs }, outcome: "success" });
    return generation;
  });
  publishChange(ctx, generation);
  return { cidrs };
}

/** Sets a host's or an attachment's labels (all of them); pools and host selectors see them at once. */
export async function setLabels(ctx: Ctx, input: { kind: "host" | "attachment"; id: string; labels: Labels }) {
  const actor = ctx.session!.user;
  const generation = await ctx.db.$transaction(async (tx) => {
    const before =
      input.kind === "host"
        ? await tx.host.findUnique({ where: { id: input.id }, select: { labels: true, name: true } })
        : await tx.attachment.findUnique({ where: { id: input.id }, select: { labels: true, containerId: true } });
    if (!before) throw new ApiError("NOT_FOUND", `${input.kind === "host" ? "Host" : "Attachment"} ${input.id} does not exist`);
    if (input.kind === "host") await tx.host.update({ where: { id: input.id }, data: { labels: asJson(input.labels) } });
    else await tx.attachment.update({ where: { id: input.id }, data: { labels: asJson(input.labels) } });
    const generation = await recordServiceChange(tx, { summary: `labels of ${input.kind} ${"name" in before ? before.name : before.containerId}`, actorName: actor.username });
    await writeAudit(tx, ctx, { action: `${input.kind === "host" ? "hosts" : "attachments"}.setLabels`, targetType: input.kind, targetId: input.id, before: { labels: before.labels }, after: { labels: input.labels }, outcome: "success" });
    return generation;
  });
  publishChange(ctx, generation);
  // A host's labels choose the networks deployed to it (placement by labels, issue 16).
  if (input.kind === "host") notifyDeploy(ctx, [input.id]);
  return { id: input.id, labels: input.labels };
}
