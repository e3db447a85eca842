import {
  conflistFileName,
  findSubnetOverlaps,
  parseNetworkConfig,
  serializeConflist,
  type Conflist,
  type ConfigIssue,
} from "@switchyard/cni/config";
import { mapPrismaError, type Db, type DbTx, type Prisma } from "@switchyard/db";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";

type Ctx = Pick<Context, "db" | "events" | "session" | "meta">;

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

async function latestConflists(db: Db | DbTx, exceptId?: string): Promise<{ name: string; conflist: Conflist }[]> {
  // One join of fixed shape: one OR clause per network made Prisma compile and cache a new plan
  // at every count of networks (memory and time growing with each create).
  return db.$queryRaw<{ name: string; conflist: Conflist }[]>`
    SELECT n.name, r.conflist FROM "Network" n
    JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"
    WHERE ${exceptId ?? null}::text IS NULL OR n.id <> ${exceptId ?? null}::text`;
}

/** Overlap with other networks' subnets is a warning, never a refusal. */
export async function overlapWarnings(db: Db | DbTx, conflist: Conflist, exceptId?: string): Promise<ConfigIssue[]> {
  return findSubnetOverlaps(conflist, await latestConflists(db, exceptId));
}

function asJson(conflist: Conflist): Prisma.InputJsonValue {
  return conflist as unknown as Prisma.InputJsonValue;
}

function rethrowConflict(err: unknown, name: string): never {
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
            create: { number: 1, conflist: asJson(conflist), comment: input.comment, authorId: actor.id, authorName: actor.username },
          },
        },
        select: { id: true, name: true },
      });
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
  ctx.events.publish("network", { kind: "created", networkId: saved.id, name: saved.name, revision: 1, actor: actor.username, at: new Date() });
  return saved;
}

async function loadLatest(db: Db | DbTx, id: string) {
  const network = await db.network.findUnique({ where: { id }, select: { id: true, name: true, latestRevision: true } });
  if (!network) throw new ApiError("NOT_FOUND", `Network ${id} not found`);
  const revision = await db.networkRevision.findUnique({
    where: { networkId_number: { networkId: id, number: network.latestRevision } },
    select: { conflist: true },
  });
  return { ...network, conflist: revision?.conflist as unknown as Conflist };
}

/**
 * Writes a new revision. `expectedRevision` makes concurrent edits fail loudly
 * instead of silently overwriting each other.
 */
async function writeRevision(
  ctx: Ctx,
  input: { id: string; conflist: Conflist; comment: string; expectedRevision: number; action: string },
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
          comment: input.comment,
          authorId: actor.id,
          authorName: actor.username,
        },
      });
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
  ctx.events.publish("network", { kind: "updated", networkId: saved.id, name: saved.name, revision: saved.revision, actor: actor.username, at: new Date() });
  return saved;
}

export async function updateNetwork(
  ctx: Ctx,
  input: { id: string; text: string; comment: string; expectedRevision: number },
): Promise<SavedNetwork> {
  const { conflist, warnings } = parseOrThrow(input.text);
  const saved = await writeRevision(ctx, { ...input, conflist, action: "networks.update" });
  return { ...saved, warnings: [...warnings, ...(await overlapWarnings(ctx.db, conflist, saved.id))] };
}

export async function rollbackNetwork(
  ctx: Ctx,
  input: { id: string; toRevision: number; expectedRevision: number },
): Promise<SavedNetwork> {
  const target = await ctx.db.networkRevision.findUnique({
    where: { networkId_number: { networkId: input.id, number: input.toRevision } },
    select: { conflist: true },
  });
  if (!target) throw new ApiError("NOT_FOUND", `Network ${input.id} has no revision ${input.toRevision}`);
  // Re-validate: rules may have tightened since the old revision was saved.
  const { conflist, warnings } = parseOrThrow(JSON.stringify(target.conflist));
  const saved = await writeRevision(ctx, {
    id: input.id,
    conflist,
    comment: `Rollback to revision ${input.toRevision}`,
    expectedRevision: input.expectedRevision,
    action: "networks.rollback",
  });
  return { ...saved, warnings };
}

export async function deleteNetwork(ctx: Ctx, input: { id: string; confirmName: string }): Promise<void> {
  const actor = ctx.session!.user;
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
  ctx.events.publish("network", { kind: "deleted", networkId: deleted.id, name: deleted.name, revision: deleted.latestRevision, actor: actor.username, at: new Date() });
}

export async function getNetwork(db: Db, id: string) {
  const latest = await loadLatest(db, id);
  return { ...latest, text: serializeConflist(latest.conflist), warnings: await overlapWarnings(db, latest.conflist, id) };
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
    select: { number: true, conflist: true, comment: true, authorName: true, createdAt: true },
  });
  if (!rev) throw new ApiError("NOT_FOUND", `Network ${id} has no revision ${number}`);
  return { ...rev, text: serializeConflist(rev.conflist as unknown as Conflist) };
}

export interface ExportFile {
  fileName: string;
  text: string;
}

/** Files named the way /etc/cni/net.d expects, one per network. */
export async function exportNetworks(db: Db, id?: string): Promise<ExportFile[]> {
  const networks = await db.network.findMany({
    where: id ? { id } : {},
    orderBy: { name: "asc" },
    select: { id: true, latestRevision: true },
  });
  if (id && networks.length === 0) throw new ApiError("NOT_FOUND", `Network ${id} not found`);
  const files: ExportFile[] = [];
  for (const n of networks) {
    const rev = await db.networkRevision.findUniqueOrThrow({
      where: { networkId_number: { networkId: n.id, number: n.latestRevision } },
      select: { conflist: true },
    });
    const conflist = rev.conflist as unknown as Conflist;
    files.push({ fileName: conflistFileName(conflist), text: serializeConflist(conflist) });
  }
  return files;
}

export interface ImportOutcome {
  fileName: string;
  name: string;
  networkId: string;
  action: "created" | "updated" | "unchanged";
  revision: number;
}

/**
 * Imports files all-or-nothing: if any file is invalid, nothing is written.
 * A file whose network exists becomes a new revision unless identical.
 */
export async function importNetworks(ctx: Ctx, files: { fileName: string; text: string }[]): Promise<ImportOutcome[]> {
  const parsed = files.map((f, i) => ({ ...f, ...parseOrThrow(f.text, ["files", i, f.fileName]) }));
  const names = new Set<string>();
  for (const [i, p] of parsed.entries()) {
    if (names.has(p.conflist.name)) {
      throw new ApiError("BAD_INPUT", `Two files define network "${p.conflist.name}"`, [
        { path: ["files", i, p.fileName, "name"], message: `"${p.conflist.name}" appears twice`, severity: "error" },
      ]);
    }
    names.add(p.conflist.name);
  }
  const actor = ctx.session!.user;
  const outcomes = await ctx.db.$transaction(async (tx) => {
    const results: ImportOutcome[] = [];
    for (const p of parsed) {
      const existing = await tx.network.findUnique({ where: { name: p.conflist.name }, select: { id: true } });
      if (!existing) {
        const network = await tx.network.create({
          data: {
            name: p.conflist.name,
            latestRevision: 1,
            revisions: { create: { number: 1, conflist: asJson(p.conflist), comment: `Imported from ${p.fileName}`, authorId: actor.id, authorName: actor.username } },
          },
          select: { id: true },
        });
        await writeAudit(tx, ctx, { action: "networks.import", targetType: "network", targetId: network.id, after: { name: p.conflist.name, revision: 1, conflist: p.conflist, fileName: p.fileName }, outcome: "success" });
        results.push({ fileName: p.fileName, name: p.conflist.name, networkId: network.id, action: "created", revision: 1 });
        continue;
      }
      const before = await loadLatest(tx, existing.id);
      if (serializeConflist(before.conflist) === serializeConflist(p.conflist)) {
        results.push({ fileName: p.fileName, name: p.conflist.name, networkId: existing.id, action: "unchanged", revision: before.latestRevision });
        continue;
      }
      const number = before.latestRevision + 1;
      await tx.network.update({ where: { id: existing.id }, data: { latestRevision: number } });
      await tx.networkRevision.create({
        data: { networkId: existing.id, number, conflist: asJson(p.conflist), comment: `Imported from ${p.fileName}`, authorId: actor.id, authorName: actor.username },
      });
      await writeAudit(tx, ctx, {
        action: "networks.import",
        targetType: "network",
        targetId: existing.id,
        before: { name: before.name, revision: before.latestRevision, conflist: before.conflist },
        after: { name: p.conflist.name, revision: number, conflist: p.conflist, fileName: p.fileName },
        outcome: "success",
      });
      results.push({ fileName: p.fileName, name: p.conflist.name, networkId: existing.id, action: "updated", revision: number });
    }
    return results;
  });
  for (const o of outcomes) {
    if (o.action === "unchanged") continue;
    ctx.events.publish("network", { kind: o.action, networkId: o.networkId, name: o.name, revision: o.revision, actor: actor.username, at: new Date() });
  }
  return outcomes;
}
