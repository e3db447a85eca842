import type { Db, DbTx } from "@switchyard/db";
import { createTwoFilesPatch } from "diff";
import { z } from "zod";
import { writeAudit } from "../audit";
import { dbNow } from "../clock";
import { ApiError } from "../errors";
import { Id } from "../schemas";
import { liveness } from "./hosts";
import { type ConfDirReportInput, type Placement, hostsTaken, notifyDeploy, placementOf, toPlacement } from "./networkDeployments";
import type { Ctx } from "./networks";
import { approvalsNeeded } from "./proposals";

/**
 * A newer revision of a deployed network reaches its hosts by a rollout (issue 16 §1), after its
 * plan was shown (`planRollout`, `startRollout`): one host at a time, the next rung when the last
 * one reported the new revision written (`advanceRollouts`, after each conf dir report); a host
 * that could not write it pauses the rollout, and the error is shown (`steerRollout`: resume, stop).
 * Where the network's review policy asks for approvals, only a revision an applied proposal wrote
 * rolls out: what reaches the hosts is what was reviewed.
 */

/**
 * The rollouts whose current host is this one: on to the next host once it reported the rollout's
 * revision written, paused with the reason when it could not write it (an error, a conflict, a file
 * left edited by hand). Each under its placement's row lock: two replicas never both advance it.
 */
export async function advanceRollouts(ctx: Pick<Ctx, "db" | "events">, hostId: string, report: ConfDirReportInput): Promise<void> {
  const running = (await ctx.db.networkPlacement.findMany({ where: { rolloutState: "running" }, include: { network: { select: { name: true } } } })).filter((r) => {
    const order = r.rolloutOrder as string[];
    return order[r.rolloutReached - 1] === hostId;
  });
  for (const row of running) {
    const ring = await ctx.db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM "NetworkPlacement" WHERE "networkId" = ${row.networkId} FOR UPDATE`;
      const fresh = await tx.networkPlacement.findUnique({ where: { networkId: row.networkId } });
      if (!fresh || fresh.rolloutState !== "running" || fresh.rolloutRevision === null) return [];
      const placement = toPlacement(fresh);
      const rollout = placement.rollout!;
      if (rollout.order[rollout.reached - 1] !== hostId) return [];
      const revision = await tx.networkRevision.findFirst({ where: { networkId: row.networkId, number: rollout.revision }, select: { conflist: true } });
      const name = ((revision?.conflist as { name?: string } | null)?.name ?? row.network.name) as string;
      const action = report.actions.find((a) => a.network === name);
      if (!action) return [];
      const host = await tx.host.findUnique({ where: { id: hostId }, select: { name: true } });
      const written = (action.kind === "create" || action.kind === "update" || action.kind === "restore" || action.kind === "keep") && !action.error && action.revision === rollout.revision;
      if (!written) {
        const why = action.error ?? (action.kind === "conflict" ? `${(action.with ?? []).join(", ")} also define the network` : action.kind === "drifted" ? "its file was edited by hand and is left (drift policy warn)" : "");
        if (!why) return [];
        await tx.networkPlacement.update({ where: { networkId: row.networkId }, data: { rolloutState: "paused", rolloutError: `${host?.name ?? hostId}: ${why}` } });
        return [];
      }
      if (rollout.reached < rollout.order.length) {
        await tx.networkPlacement.update({ where: { networkId: row.networkId }, data: { rolloutReached: rollout.reached + 1 } });
        return [rollout.order[rollout.reached]!];
      }
      // Every host of the order has it: it becomes the placement's revision, and reaches the hosts the order skipped.
      await tx.networkPlacement.update({ where: { networkId: row.networkId }, data: { revision: rollout.revision, rolloutState: "done", rolloutError: "" } });
      return (await hostsTaken(tx, placement)).filter((id) => !rollout.order.includes(id));
    });
    notifyDeploy(ctx, ring);
  }
}

export interface RolloutPlan {
  networkId: string;
  /** What the placed hosts hold now, and the revision a rollout would give them. */
  fromRevision: number;
  toRevision: number;
  /** The saved texts' difference (a host with per-host blocks gets its own narrowing of each). */
  diff: string;
  /** In the order the rollout would take them; offline ones get it when it is done. */
  hosts: { hostId: string; hostName: string; liveness: "online" | "offline" | "revoked"; fileRevision: number | null; state: string | null; inOrder: boolean }[];
  /** Why it cannot start now, if it cannot. */
  blocked: string | null;
}

async function placedHostsInOrder(db: Db | DbTx, placement: Placement) {
  const ids = await hostsTaken(db, placement);
  const hosts = await db.host.findMany({ where: { id: { in: ids } }, select: { id: true, name: true, lastSeenAt: true, revokedAt: true }, orderBy: { name: "asc" } });
  return hosts.map((h) => ({ id: h.id, name: h.name, liveness: liveness(h.lastSeenAt, h.revokedAt) }));
}

/** What rolling the latest revision out to the placed hosts would do: shown before it starts. */
export async function planRollout(db: Db, networkId: string): Promise<RolloutPlan> {
  const network = await db.network.findUnique({ where: { id: networkId }, select: { name: true, latestRevision: true } });
  if (!network) throw new ApiError("NOT_FOUND", `network ${networkId} does not exist`);
  const placement = await placementOf(db, networkId);
  if (!placement) throw new ApiError("BAD_INPUT", `network "${network.name}" is not deployed to any host: place it first`);
  const texts = await db.networkRevision.findMany({ where: { networkId, number: { in: [placement.revision, network.latestRevision] } }, select: { number: true, text: true } });
  const textOf = (n: number) => texts.find((t) => t.number === n)?.text ?? "";
  const hosts = await placedHostsInOrder(db, placement);
  const files = await db.hostNetworkFile.findMany({ where: { hostId: { in: hosts.map((h) => h.id) }, networkName: network.name }, select: { hostId: true, revision: true, state: true } });
  const running = placement.rollout && placement.rollout.state !== "done" ? placement.rollout : null;
  const unreviewed = await requireReviewed(db, networkId, network.name, network.latestRevision).then(
    () => null,
    (e: unknown) => (e instanceof ApiError ? e.message : Promise.reject(e)),
  );
  return {
    networkId,
    fromRevision: placement.revision,
    toRevision: network.latestRevision,
    diff: createTwoFilesPatch(network.name, network.name, textOf(placement.revision), textOf(network.latestRevision), `revision ${placement.revision}`, `revision ${network.latestRevision}`),
    hosts: hosts.map((h) => {
      const f = files.find((x) => x.hostId === h.id);
      return { hostId: h.id, hostName: h.name, liveness: h.liveness, fileRevision: f?.revision ?? null, state: f?.state ?? null, inOrder: h.liveness === "online" };
    }),
    blocked: running
      ? `a rollout of revision ${running.revision} is ${running.state}: stop it first`
      : placement.revision >= network.latestRevision
        ? `the hosts already hold revision ${placement.revision}, the latest`
        : unreviewed,
  };
}

export const StartRolloutInput = z.object({ networkId: Id, revision: z.number().int().positive() });

/** Starts giving the latest revision to the placed hosts, one at a time, in the plan's order; audited. */
export async function startRollout(ctx: Ctx, input: z.infer<typeof StartRolloutInput>): Promise<Placement> {
  const user = ctx.session!.user;
  const { placement, ring } = await ctx.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT 1 FROM "NetworkPlacement" WHERE "networkId" = ${input.networkId} FOR UPDATE`;
    const network = await tx.network.findUnique({ where: { id: input.networkId }, select: { name: true, latestRevision: true } });
    if (!network) throw new ApiError("NOT_FOUND", `network ${input.networkId} does not exist`);
    const row = await tx.networkPlacement.findUnique({ where: { networkId: input.networkId } });
    if (!row) throw new ApiError("BAD_INPUT", `network "${network.name}" is not deployed to any host: place it first`);
    const before = toPlacement(row);
    if (input.revision !== network.latestRevision) throw new ApiError("STALE_REVISION", `network "${network.name}" is at revision ${network.latestRevision}, not ${input.revision}: look at the plan again`);
    if (before.rollout && before.rollout.state !== "done") throw new ApiError("BAD_INPUT", `a rollout of revision ${before.rollout.revision} is ${before.rollout.state}: stop it first`);
    if (before.revision >= input.revision) throw new ApiError("BAD_INPUT", `the hosts of network "${network.name}" already hold revision ${before.revision}`);
    await requireReviewed(tx, input.networkId, network.name, input.revision);
    const order = (await placedHostsInOrder(tx, before)).filter((h) => h.liveness === "online").map((h) => h.id);
    const data =
      order.length > 0
        ? { rolloutState: "running", rolloutRevision: input.revision, rolloutOrder: order, rolloutReached: 1, rolloutError: "", rolloutByName: user.username, rolloutStartedAt: dbNow() }
        : { revision: input.revision, rolloutState: "done", rolloutRevision: input.revision, rolloutOrder: [], rolloutReached: 0, rolloutError: "", rolloutByName: user.username, rolloutStartedAt: dbNow() };
    const updated = await tx.networkPlacement.update({ where: { networkId: input.networkId }, data });
    await writeAudit(tx, ctx, {
      action: "network.rollout.start",
      targetType: "network",
      targetId: input.networkId,
      targetName: network.name,
      before: { revision: before.revision },
      after: { revision: input.revision, order },
      outcome: "success",
    });
    // No host online to take it first: it is the placement's revision at once, for every host.
    return { placement: toPlacement(updated), ring: order.length > 0 ? [order[0]!] : await hostsTaken(tx, before) };
  });
  notifyDeploy(ctx, ring);
  return placement;
}

/** Under a review policy that asks for approvals now, the revision must be one an applied proposal wrote. */
async function requireReviewed(tx: Db | DbTx, networkId: string, name: string, revision: number): Promise<void> {
  const { needed, rule } = await approvalsNeeded(tx, "network", networkId);
  if (needed === 0) return;
  const reviewed = await tx.proposal.count({ where: { kind: "network", targetId: networkId, status: "applied", appliedRevision: revision } });
  if (reviewed === 0) {
    throw new ApiError("FORBIDDEN", `revision ${revision} of network "${name}" was not made through a proposal, and its review policy (${rule}) asks for one before it reaches the hosts: propose the change`);
  }
}

/** A paused rollout tries its current host again; a running one is stopped (the hosts it reached go back); audited. */
export async function steerRollout(ctx: Ctx, input: { networkId: string; action: "resume" | "stop" }): Promise<Placement> {
  const { placement, ring } = await ctx.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT 1 FROM "NetworkPlacement" WHERE "networkId" = ${input.networkId} FOR UPDATE`;
    const row = await tx.networkPlacement.findUnique({ where: { networkId: input.networkId }, include: { network: { select: { name: true } } } });
    const rollout = row && toPlacement(row).rollout;
    if (!row || !rollout || rollout.state === "done") throw new ApiError("BAD_INPUT", `network ${input.networkId} has no rollout to ${input.action}`);
    if (input.action === "resume" && rollout.state !== "paused") throw new ApiError("BAD_INPUT", `the rollout of network "${row.network.name}" is ${rollout.state}, not paused`);
    const data = input.action === "resume" ? { rolloutState: "running", rolloutError: "" } : { rolloutState: "", rolloutRevision: null, rolloutOrder: [], rolloutReached: 0, rolloutError: "" };
    const updated = await tx.networkPlacement.update({ where: { networkId: input.networkId }, data });
    await writeAudit(tx, ctx, { action: `network.rollout.${input.action}`, targetType: "network", targetId: input.networkId, targetName: row.network.name, before: { rollout }, outcome: "success" });
    return { placement: toPlacement(updated), ring: input.action === "resume" ? [rollout.order[rollout.reached - 1]!] : rollout.order.slice(0, rollout.reached) };
  });
  notifyDeploy(ctx, ring);
  return placement;
}
