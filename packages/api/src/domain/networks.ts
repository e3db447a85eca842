import { parseNetworkConfig, type Conflist, type ConfigIssue } from "@switchyard/cni/config";
import { mapPrismaError, type Db, type DbTx, type Prisma } from "@switchyard/db";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";
import { indexSubnets, overlapWarnings } from "./networkSubnets";
import { refuseUnagreedStranding } from "./ipamStranded";
import { hostsDeploying, notifyDeploy } from "./networkDeployments";
import { dbNow } from "../clock";

export type Ctx = Pick<Context, "db" | "events" | "session" | "meta">;

export interface SavedNetwork {
  id: string;
  name: string;
  revision: number;
  warnings: ConfigIssue[];
}

/** Parses and validates conflist text; refuses with field-path issues and changes nothing. */
export function parseOrThrow(text: string, pathPrefix: (string | number)[] = []): { conflist: Conflist; warnings: ConfigIssue[] } {
  const result = parseNetworkConfig(text);
  if (!result.ok) {
    const issues = result.errors.map((e) => ({ ...e, path: [...pathPrefix, ...e.path] }));
    const first = issues[0];
    throw new ApiError(
      "INVALID_CONFIG",
      first ? `Invalid network config at ${first.path.join(".") || "(root)"}: ${first.message}` : "Invalid network config",
      issues,
    );
  }
  return { conflist: result.conflist, warnings: result.warnings };
}

/**
 * What saving `text` would give, without writing anything: the validation errors, the config's
 * own warnings and overlaps with other networks (the editor asks while the user types, the
 * import preview per file). `id` is the network being edited: its own subnets are not an overlap.
 */
export async function validateDraft(db: Db, input: { text: string; id?: string }): Promise<{ ok: boolean; errors: ConfigIssue[]; warnings: ConfigIssue[] }> {
  const result = parseNetworkConfig(input.text);
  if (!result.ok) return { ok: false, errors: result.errors, warnings: result.warnings };
  return { ok: true, errors: [], warnings: [...result.warnings, ...(await overlapWarnings(db, result.conflist, input.id))] };
}

export function asJson(conflist: Conflist): Prisma.InputJsonValue {
  return conflist as unknown as Prisma.InputJsonValue;
}

export function rethrowConflict(err: unknown, name: string): never {
  if (mapPrismaError(err)?.code === "CONFLICT") {
    throw new ApiError("CONFLICT", `A network named "${name}" already exists`, [
      { path: ["name"], message: `"${name}" is taken`, severity: "error" },
    ]);
  }
  throw err;
}

export async function createNetwork(ctx: Ctx, input: { text: string; comment: string }): Promise<SavedNetwork> {
  const { conflist, warnings } = parseOrThrow(input.text);
  const actor = ctx.session!.user;
  const saved = await ctx.db
    .$transaction(async (tx) => {
      const network = await tx.network.create({
        data: {
          name: conflist.name,
          latestRevision: 1,
          revisions: {
            create: { number: 1, conflist: asJson(conflist), text: input.text, comment: input.comment, authorId: actor.id, authorName: actor.username },
          },
        },
        select: { id: true, name: true },
      });
      await indexSubnets(tx, network.id, conflist);
      await writeAudit(tx, ctx, {
        action: "networks.create",
        targetType: "network",
        targetId: network.id,
        after: { name: network.name, revision: 1, conflist },
        outcome: "success",
      });
      return { ...network, revision: 1, warnings: [...warnings, ...(await overlapWarnings(tx, conflist, network.id))] };
    })
    .catch((err: unknown) => rethrowConflict(err, conflist.name));
  ctx.events.publish("network", { kind: "created", networkId: saved.id, name: saved.name, revision: 1, actor: actor.username, at: dbNow() });
  return saved;
}

export async function loadLatest(db: Db | DbTx, id: string) {
  const network = await db.network.findUnique({ where: { id }, select: { id: true, name: true, latestRevision: true } });
  if (!network) throw new ApiError("NOT_FOUND", `Network ${id} not found`);
  const revision = await db.networkRevision.findUnique({
    where: { networkId_number: { networkId: id, number: network.latestRevision } },
    select: { conflist: true, text: true },
  });
  return { ...network, conflist: revision?.conflist as unknown as Conflist, text: revision?.text ?? "" };
}

/**
 * Writes a new revision. `expectedRevision` makes concurrent edits fail loudly
 * instead of silently overwriting each other.
 */
async function writeRevision(
  ctx: Ctx,
  input: { id: string; conflist: Conflist; text: string; comment: string; expectedRevision: number; action: string; strandAddresses?: number | undefined },
): Promise<{ id: string; name: string; revision: number }> {
  const actor = ctx.session!.user;
  const saved = await ctx.db
    .$transaction(async (tx) => {
      const before = await loadLatest(tx, input.id);
      if (before.latestRevision !== input.expectedRevision) {
        throw new ApiError(
          "STALE_REVISION",
          `Network "${before.name}" is at revision ${before.latestRevision}, not ${input.expectedRevision}: reload and reapply your change`,
        );
      }
      await refuseUnagreedStranding(tx, input.id, before, input.conflist, input.strandAddresses);
      const number = before.latestRevision + 1;
      // The conditional update is the lock: a concurrent writer matches zero rows.
      const { count } = await tx.network.updateMany({
        where: { id: input.id, latestRevision: before.latestRevision },
        data: { latestRevision: number, name: input.conflist.name },
      });
      if (count !== 1) throw new ApiError("STALE_REVISION", `Network "${before.name}" changed while saving: reload and retry`);
      await tx.networkRevision.create({
        data: {
          networkId: input.id,
          number,
          conflist: asJson(input.conflist),
          text: input.text,
          comment: input.comment,
          authorId: actor.id,
          authorName: actor.username,
        },
      });
      await indexSubnets(tx, input.id, input.conflist);
      await writeAudit(tx, ctx, {
        action: input.action,
        targetType: "network",
        targetId: input.id,
        before: { name: before.name, revision: before.latestRevision, conflist: before.conflist },
        after: { name: input.conflist.name, revision: number, conflist: input.conflist },
        outcome: "success",
      });
      return { id: input.id, name: input.conflist.name, revision: number };
    })
    .catch((err: unknown) => rethrowConflict(err, input.conflist.name));
  ctx.events.publish("network", { kind: "updated", networkId: saved.id, name: saved.name, revision: saved.revision, actor: actor.username, at: dbNow() });
  return saved;
}

export async function updateNetwork(
  ctx: Ctx,
  input: { id: string; text: string; comment: string; expectedRevision: number; strandAddresses?: number | undefined },
): Promise<SavedNetwork> {
  const { conflist, warnings } = parseOrThrow(input.text);
  const saved = await writeRevision(ctx, { ...input, conflist, action: "networks.update" });
  return { ...saved, warnings: [...warnings, ...(await overlapWarnings(ctx.db, conflist, saved.id))] };
}

export async function rollbackNetwork(
  ctx: Ctx,
  input: { id: string; toRevision: number; expectedRevision: number; strandAddresses?: number | undefined },
): Promise<SavedNetwork> {
  const target = await ctx.db.networkRevision.findUnique({
    where: { networkId_number: { networkId: input.id, number: input.toRevision } },
    select: { text: true },
  });
  if (!target) throw new ApiError("NOT_FOUND", `Network ${input.id} has no revision ${input.toRevision}`);
  // Re-validate: rules may have tightened since the old revision was saved. The text is copied byte for byte.
  const { conflist, warnings } = parseOrThrow(target.text);
  const saved = await writeRevision(ctx, {
    id: input.id,
    conflist,
    text: target.text,
    comment: `Rollback to revision ${input.toRevision}`,
    expectedRevision: input.expectedRevision,
    strandAddresses: input.strandAddresses,
    action: "networks.rollback",
  });
  return { ...saved, warnings: [...warnings, ...(await overlapWarnings(ctx.db, conflist, saved.id))] };
}

export async function deleteNetwork(ctx: Ctx, input: { id: string; confirmName: string }): Promise<void> {
  const actor = ctx.session!.user;
  // Its placement goes with it: the hosts it was deployed to are told, and remove its file.
  const deployedOn = await hostsDeploying(ctx.db, input.id);
  const deleted = await ctx.db.$transaction(async (tx) => {
    const before = await loadLatest(tx, input.id);
    if (before.name !== input.confirmName) {
      throw new ApiError("BAD_INPUT", `Type the network's name "${before.name}" to confirm deletion`, [
        { path: ["confirmName"], message: `must be "${before.name}"`, severity: "error" },
      ]);
    }
    // Hosts still carry attachments of this network: deleting it would orphan their cleanup.
    const inUse = await tx.attachment.count({ where: { networkId: input.id, state: { not: "detached" } } });
    if (inUse > 0) {
      throw new ApiError("CONFLICT", `${inUse} attachment${inUse === 1 ? "" : "s"} on hosts still use "${before.name}"; detach ${inUse === 1 ? "it" : "them"} first`);
    }
    await tx.attachment.deleteMany({ where: { networkId: input.id } });
    await tx.network.delete({ where: { id: input.id } });
    await writeAudit(tx, ctx, {
      action: "networks.delete",
      targetType: "network",
      targetId: input.id,
      before: { name: before.name, revision: before.latestRevision, conflist: before.conflist },
      outcome: "success",
    });
    return before;
  });
  ctx.events.publish("network", { kind: "deleted", networkId: deleted.id, name: deleted.name, revision: deleted.latestRevision, actor: actor.username, at: dbNow() });
  notifyDeploy(ctx, deployedOn);
}

export async function getNetwork(db: Db, id: string) {
  const latest = await loadLatest(db, id);
  return { ...latest, warnings: await overlapWarnings(db, latest.conflist, id) };
}

export async function listRevisions(db: Db, id: string) {
  const network = await db.network.findUnique({ where: { id }, select: { id: true } });
  if (!network) throw new ApiError("NOT_FOUND", `Network ${id} not found`);
  return db.networkRevision.findMany({
    where: { networkId: id },
    orderBy: { number: "desc" },
    select: { number: true, comment: true, authorName: true, createdAt: true },
  });
}

export async function getRevision(db: Db, id: string, number: number) {
  const rev = await db.networkRevision.findUnique({
    where: { networkId_number: { networkId: id, number } },
    select: { number: true, conflist: true, text: true, comment: true, authorName: true, createdAt: true },
  });
  if (!rev) throw new ApiError("NOT_FOUND", `Network ${id} has no revision ${number}`);
  return rev;
}
