import type { Db, DbTx } from "@switchyard/db";
import { withinOf } from "../auth/tokenLimits";
import { tokenActorName } from "../auth/apiTokens";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";
import type { DeregisterMemberInput, RegisterMemberInput } from "../schemas/services";
import { ServiceSpec } from "../schemas/services";
import { startPeriodic, type PeriodicJob } from "./periodic";
import { memberProblem, publishChange, recordServiceChange } from "./services";
import { serviceCidrs } from "./serviceVips";
import { dbNow, dbNowMs } from "../clock";

/**
 * Members registered through the API (issue 12 §6): what registrator did for Consul, for processes
 * that are not attachments. A registrar token (or an operator) registers an endpoint into a
 * service by name; registering again renews its TTL; deregistering, or a TTL passing without a
 * renewal, takes it out. Each registration that changes the pool is a ServiceChange (hosts
 * converge to it) and an audit event naming the token and its user; a renewal that changes
 * nothing but the TTL is neither, so a process renewing every few seconds rings no agent.
 */

type Ctx = Pick<Context, "db" | "events" | "session" | "meta" | "token">;

const endpointKey = (address: string, port: number | null) => `${address}/${port ?? "*"}`;

function actorOf(ctx: Ctx): string {
  if (ctx.token) return tokenActorName(ctx.token);
  if (ctx.session) return ctx.session.user.username;
  throw new ApiError("UNAUTHORIZED", "Sign in first");
}

/** The service by name, if the caller may register into it (a token only into its own services). */
async function serviceFor(tx: DbTx, ctx: Ctx, name: string) {
  const service = await tx.service.findUnique({ where: { name }, select: { id: true, name: true, family: true, latestRevision: true } });
  // A token limited to other services learns nothing about this one: the same answer as a missing service.
  const limited = ctx.token !== null && (ctx.token.scope === "registrar" ? ctx.token.serviceIds.length > 0 : withinOf(ctx.token) !== null);
  const allowed = !limited || (service !== null && ctx.token!.serviceIds.includes(service.id));
  if (!service || !allowed) {
    throw new ApiError("NOT_FOUND", limited ? `No service named "${name}" that this token may register into` : `No service named "${name}"`);
  }
  return service;
}

export async function registerMember(ctx: Ctx, input: RegisterMemberInput) {
  const actorName = actorOf(ctx);
  const result = await ctx.db.$transaction(async (tx) => {
    const service = await serviceFor(tx, ctx, input.service);
    const problem = memberProblem(input.address, service.family as 4 | 6, await serviceCidrs(tx));
    if (problem) throw new ApiError("BAD_INPUT", problem, [{ path: ["address"], message: problem, severity: "error" }]);
    if (input.port !== null) {
      const revision = await tx.serviceRevision.findUniqueOrThrow({ where: { serviceId_number: { serviceId: service.id, number: service.latestRevision } }, select: { spec: true } });
      const ports = ServiceSpec.parse(revision.spec).ports;
      if (ports.length > 1) {
        const message = `${service.name} has ${ports.length} ports: a member naming its own port needs a one-port service; leave port out to use each port's target port`;
        throw new ApiError("BAD_INPUT", message, [{ path: ["port"], message, severity: "error" }]);
      }
    }
    let hostId: string | null = null;
    if (input.host !== null) {
      const host = await tx.host.findUnique({ where: { name: input.host }, select: { id: true, revokedAt: true } });
      if (!host || host.revokedAt) throw new ApiError("BAD_INPUT", `No host named "${input.host}"`, [{ path: ["host"], message: "unknown host", severity: "error" }]);
      hostId = host.id;
    }
    const endpoint = endpointKey(input.address, input.port);
    const expiresAt = input.ttlSeconds === null ? null : new Date(dbNowMs() + input.ttlSeconds * 1000);
    const before = await tx.serviceRegistration.findUnique({ where: { serviceId_endpoint: { serviceId: service.id, endpoint } }, select: { hostId: true, weight: true, state: true } });
    const fields = { hostId, weight: input.weight, state: input.state };
    const row = await tx.serviceRegistration.upsert({
      where: { serviceId_endpoint: { serviceId: service.id, endpoint } },
      create: { serviceId: service.id, endpoint, address: input.address, port: input.port, ...fields, tokenId: ctx.token?.id ?? null, actorName, ttlSeconds: input.ttlSeconds, expiresAt },
      update: { ...fields, tokenId: ctx.token?.id ?? null, actorName, ttlSeconds: input.ttlSeconds, expiresAt },
      select: { id: true },
    });
    const changed = !before || before.hostId !== hostId || before.weight !== input.weight || before.state !== input.state;
    if (!changed) return { id: row.id, expiresAt, changed, generation: null };
    const generation = await recordServiceChange(tx, { summary: `${service.name}: ${endpoint} registered${before ? " (changed)" : ""}`, serviceId: service.id, actorName });
    await writeAudit(tx, ctx, {
      action: "services.register",
      targetType: "service",
      targetId: service.id,
      targetName: service.name,
      ...(before ? { before } : {}),
      after: { address: input.address, port: input.port, host: input.host, ...fields, ttlSeconds: input.ttlSeconds },
      outcome: "success",
    });
    return { id: row.id, expiresAt, changed, generation };
  });
  if (result.generation !== null) publishChange(ctx, result.generation);
  return { id: result.id, expiresAt: result.expiresAt, changed: result.changed };
}

/** Takes a registered member out; deregistering one that is not there is not an error (`removed: false`). */
export async function deregisterMember(ctx: Ctx, input: DeregisterMemberInput): Promise<{ removed: boolean }> {
  const actorName = actorOf(ctx);
  const generation = await ctx.db.$transaction(async (tx) => {
    const service = await serviceFor(tx, ctx, input.service);
    const endpoint = endpointKey(input.address, input.port);
    const { count } = await tx.serviceRegistration.deleteMany({ where: { serviceId: service.id, endpoint } });
    if (count === 0) return null;
    await writeAudit(tx, ctx, { action: "services.deregister", targetType: "service", targetId: service.id, targetName: service.name, before: { address: input.address, port: input.port }, outcome: "success" });
    return recordServiceChange(tx, { summary: `${service.name}: ${endpoint} deregistered`, serviceId: service.id, actorName });
  });
  if (generation !== null) publishChange(ctx, generation);
  return { removed: generation !== null };
}

/** A service's registrations, for its page and for a registrar to see what it holds. */
export async function listRegistrations(ctx: Ctx, input: { service: string }) {
  const service = await ctx.db.$transaction((tx) => serviceFor(tx, ctx, input.service));
  const rows = await ctx.db.serviceRegistration.findMany({
    where: { serviceId: service.id },
    orderBy: { endpoint: "asc" },
    select: { id: true, address: true, port: true, weight: true, state: true, actorName: true, ttlSeconds: true, expiresAt: true, createdAt: true, updatedAt: true, host: { select: { name: true } }, token: { select: { name: true } } },
  });
  return rows.map(({ host, token, ...r }) => ({ ...r, hostName: host?.name ?? null, tokenName: token?.name ?? null }));
}

/** The live registrations of some services (a lapsed TTL is out even before the sweep deletes it). */
export async function liveRegistrations(tx: Db | DbTx, serviceIds: readonly string[], now = dbNow()) {
  if (serviceIds.length === 0) return [];
  return tx.serviceRegistration.findMany({
    where: { serviceId: { in: [...serviceIds] }, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    orderBy: { endpoint: "asc" },
    select: { serviceId: true, address: true, port: true, hostId: true, weight: true, state: true },
  });
}

/**
 * Deletes registrations whose TTL passed, a ServiceChange per service that lost members, so hosts
 * drop them at their next sync (resolution already leaves them out; the change makes agents look).
 */
export async function sweepLapsedRegistrations(ctx: Pick<Context, "db" | "events">, now = dbNow()): Promise<{ removed: number }> {
  const swept = await ctx.db.$transaction(async (tx) => {
    const lapsed = await tx.serviceRegistration.findMany({ where: { expiresAt: { lte: now } }, select: { id: true, serviceId: true, endpoint: true, service: { select: { name: true } } }, take: 1000 });
    if (lapsed.length === 0) return null;
    await tx.serviceRegistration.deleteMany({ where: { id: { in: lapsed.map((r) => r.id) } } });
    const byService = new Map<string, typeof lapsed>();
    for (const r of lapsed) byService.set(r.serviceId, [...(byService.get(r.serviceId) ?? []), r]);
    let generation = 0n;
    for (const [serviceId, rows] of byService) {
      const summary = `${rows[0]!.service.name}: ${rows.length} registration(s) lapsed: ${rows.slice(0, 5).map((r) => r.endpoint).join(", ")}`;
      generation = await recordServiceChange(tx, { summary, serviceId, actorName: "system" });
    }
    return { generation, removed: lapsed.length };
  });
  if (!swept) return { removed: 0 };
  publishChange(ctx, swept.generation);
  return { removed: swept.removed };
}

/** Sweeps lapsed registrations every `intervalMs` in this console process. */
export function startRegistrationSweep(ctx: Pick<Context, "db" | "events">, opts: { intervalMs?: number; onError?: (err: unknown) => void } = {}): PeriodicJob<{ removed: number }> {
  return startPeriodic(() => sweepLapsedRegistrations(ctx), { intervalMs: opts.intervalMs ?? 5_000, ...(opts.onError ? { onError: opts.onError } : {}) });
}
