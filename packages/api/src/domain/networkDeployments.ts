import type { Db, DbTx } from "@switchyard/db";
import { NETWORK_NAME_MAX_LENGTH, SAFE_NAME_RE, SAFE_NAME_RULE } from "@switchyard/cni/names";
import { z } from "zod";
import { writeAudit } from "../audit";
import { dbNow } from "../clock";
import { ApiError } from "../errors";
import { Id } from "../schemas";
import { LabelSelector, selectorMatches } from "../schemas/services";
import { hostRenderer } from "./ipamBlocks";
import type { Ctx } from "./networks";

/**
 * Networks deployed to hosts' CNI conf dirs (issue 16 §1–2). A network's placement says which
 * hosts (all, those whose labels a selector matches, or hosts picked) and which revision they hold;
 * each chosen host's agent asks for its part (`deploymentsForHost`: that revision as the host runs
 * it, byte for byte) and writes it (apps/agent/src/confdir), then reports what each file holds
 * (`recordConfDirReport`), which the network's page shows per host (`deploymentStatus`).
 *
 * A newer revision reaches the hosts by a rollout (networkRollouts.ts).
 */

export const DriftPolicy = z.enum(["restore", "warn"]);

export const PlacementInput = z
  .object({
    networkId: Id,
    mode: z.enum(["all", "labels", "hosts"]),
    selector: LabelSelector.optional(),
    hostIds: z.array(Id).max(1000).optional(),
    drift: DriftPolicy.default("restore"),
  })
  .superRefine((p, ctx) => {
    if (p.mode === "labels" && !p.selector) ctx.addIssue({ code: "custom", path: ["selector"], message: "placement by labels needs a selector" });
    if (p.mode === "hosts" && !p.hostIds?.length) ctx.addIssue({ code: "custom", path: ["hostIds"], message: "placement on picked hosts needs at least one host" });
  });
export type PlacementInput = z.input<typeof PlacementInput>;

export interface Rollout {
  state: "running" | "paused" | "done";
  revision: number;
  /** The hosts in the order it takes them; the first `reached` have been given the revision. */
  order: string[];
  reached: number;
  error: string;
  byName: string;
  startedAt: Date | null;
}

export interface Placement {
  networkId: string;
  mode: "all" | "labels" | "hosts";
  selector: LabelSelector;
  hostIds: string[];
  drift: "restore" | "warn";
  /** The revision the placed hosts hold (those a rollout has reached hold its revision). */
  revision: number;
  updatedAt: Date;
  updatedByName: string;
  rollout: Rollout | null;
}

type PlacementRow = {
  networkId: string;
  mode: string;
  selector: unknown;
  hostIds: unknown;
  drift: string;
  revision: number;
  updatedAt: Date;
  updatedByName: string;
  rolloutState: string;
  rolloutRevision: number | null;
  rolloutOrder: unknown;
  rolloutReached: number;
  rolloutError: string;
  rolloutByName: string;
  rolloutStartedAt: Date | null;
};
export const toPlacement = (row: PlacementRow): Placement => ({
  networkId: row.networkId,
  mode: row.mode as Placement["mode"],
  selector: (row.selector ?? {}) as LabelSelector,
  hostIds: (row.hostIds ?? []) as string[],
  drift: row.drift as Placement["drift"],
  revision: row.revision,
  updatedAt: row.updatedAt,
  updatedByName: row.updatedByName,
  rollout:
    row.rolloutState && row.rolloutRevision !== null
      ? { state: row.rolloutState as Rollout["state"], revision: row.rolloutRevision, order: (row.rolloutOrder ?? []) as string[], reached: row.rolloutReached, error: row.rolloutError, byName: row.rolloutByName, startedAt: row.rolloutStartedAt }
      : null,
});

/** The revision a placed host is to hold: a running or paused rollout's for the hosts it reached, else the placement's. */
export function revisionFor(placement: Pick<Placement, "revision" | "rollout">, hostId: string): number {
  const r = placement.rollout;
  return r && r.state !== "done" && r.order.slice(0, r.reached).includes(hostId) ? r.revision : placement.revision;
}

/** Whether a placement takes a host (revoked hosts are never chosen). */
export function placementTakes(placement: Pick<Placement, "mode" | "selector" | "hostIds">, host: { id: string; labels: unknown }): boolean {
  if (placement.mode === "all") return true;
  if (placement.mode === "hosts") return placement.hostIds.includes(host.id);
  return selectorMatches(placement.selector, (host.labels ?? {}) as Record<string, string>);
}

export async function hostsTaken(db: Db | DbTx, placement: Pick<Placement, "mode" | "selector" | "hostIds"> | null): Promise<string[]> {
  if (!placement) return [];
  const hosts = await db.host.findMany({ where: { revokedAt: null, ...(placement.mode === "hosts" ? { id: { in: placement.hostIds } } : {}) }, select: { id: true, labels: true } });
  return hosts.filter((h) => placementTakes(placement, h)).map((h) => h.id);
}

/** Rings each host's doorbell: its agent fetches its deployments again. */
export function notifyDeploy(ctx: Pick<Ctx, "events">, hostIds: Iterable<string>): void {
  for (const hostId of new Set(hostIds)) ctx.events.publish("host", { kind: "deploy", hostId });
}

export async function placementOf(db: Db, networkId: string): Promise<Placement | null> {
  const row = await db.networkPlacement.findUnique({ where: { networkId } });
  return row ? toPlacement(row) : null;
}

/** Places a network on hosts (replacing its placement); audited; the hosts it adds or drops are told. */
export async function setPlacement(ctx: Ctx, raw: PlacementInput): Promise<Placement> {
  const input = PlacementInput.parse(raw);
  const user = ctx.session!.user;
  const { placement, before } = await ctx.db.$transaction(async (tx) => {
    const network = await tx.network.findUnique({ where: { id: input.networkId }, select: { name: true, latestRevision: true } });
    if (!network) throw new ApiError("NOT_FOUND", `network ${input.networkId} does not exist`);
    if (network.latestRevision === 0) throw new ApiError("BAD_INPUT", `network "${network.name}" has no saved config to deploy`);
    const hostIds = input.mode === "hosts" ? [...new Set(input.hostIds)] : [];
    if (hostIds.length > 0) {
      const found = await tx.host.findMany({ where: { id: { in: hostIds }, revokedAt: null }, select: { id: true } });
      const missing = hostIds.filter((id) => !found.some((h) => h.id === id));
      if (missing.length > 0) throw new ApiError("BAD_INPUT", `network "${network.name}": no enrolled host ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` (and ${missing.length - 5} more)` : ""}`);
    }
    const beforeRow = await tx.networkPlacement.findUnique({ where: { networkId: input.networkId } });
    const data = { mode: input.mode, selector: input.mode === "labels" ? input.selector! : {}, hostIds, drift: input.drift, updatedAt: dbNow(), updatedByName: user.username };
    // Placed anew: the latest revision. Moved: the hosts keep the revision they hold (a newer one goes by rollout).
    const row = await tx.networkPlacement.upsert({ where: { networkId: input.networkId }, create: { networkId: input.networkId, revision: network.latestRevision, ...data }, update: data });
    const before = beforeRow ? toPlacement(beforeRow) : null;
    await writeAudit(tx, ctx, {
      action: "network.placement.set",
      targetType: "network",
      targetId: input.networkId,
      targetName: network.name,
      before: before && { mode: before.mode, selector: before.selector, hostIds: before.hostIds, drift: before.drift },
      after: { mode: data.mode, selector: data.selector, hostIds, drift: data.drift, revision: row.revision },
      outcome: "success",
    });
    return { placement: toPlacement(row), before };
  });
  notifyDeploy(ctx, [...(await hostsTaken(ctx.db, before)), ...(await hostsTaken(ctx.db, placement))]);
  return placement;
}

/** Takes a network off every host (its agents remove the files they wrote); audited. */
export async function clearPlacement(ctx: Ctx, networkId: string): Promise<{ networkId: string; removed: boolean }> {
  const before = await ctx.db.$transaction(async (tx) => {
    const network = await tx.network.findUnique({ where: { id: networkId }, select: { name: true } });
    if (!network) throw new ApiError("NOT_FOUND", `network ${networkId} does not exist`);
    const row = await tx.networkPlacement.findUnique({ where: { networkId } });
    if (!row) return null;
    await tx.networkPlacement.delete({ where: { networkId } });
    const before = toPlacement(row);
    await writeAudit(tx, ctx, {
      action: "network.placement.clear",
      targetType: "network",
      targetId: networkId,
      targetName: network.name,
      before: { mode: before.mode, selector: before.selector, hostIds: before.hostIds, drift: before.drift },
      outcome: "success",
    });
    return before;
  });
  notifyDeploy(ctx, await hostsTaken(ctx.db, before));
  return { networkId, removed: before !== null };
}

/** The hosts a network's placement takes, to ring after its config changed. */
export async function hostsDeploying(db: Db, networkId: string): Promise<string[]> {
  return hostsTaken(db, await placementOf(db, networkId));
}

export interface DeployWant {
  network: string;
  revision: number;
  /** The file's bytes: the revision's text as saved, or, with per-host blocks, the config narrowed to the host's blocks. */
  conflist: string;
  drift: "restore" | "warn";
}

/** Every network placed on this host, at the revision it is to hold, as the host runs it. */
export async function deploymentsForHost(db: Db, hostId: string): Promise<DeployWant[]> {
  const host = await db.host.findUnique({ where: { id: hostId }, select: { id: true, labels: true, revokedAt: true } });
  if (!host || host.revokedAt) return [];
  const rows = await db.networkPlacement.findMany({ include: { network: { select: { name: true } } } });
  const taken = rows.map((r) => ({ name: r.network.name, placement: toPlacement(r) })).filter((p) => placementTakes(p.placement, host));
  if (taken.length === 0) return [];
  const wanted = taken.map((p) => ({ ...p, revision: revisionFor(p.placement, hostId) }));
  const revisions = await db.networkRevision.findMany({
    where: { OR: wanted.map((p) => ({ networkId: p.placement.networkId, number: p.revision })) },
    select: { networkId: true, number: true, text: true, conflist: true },
  });
  const render = await hostRenderer(db, hostId, wanted.map((p) => p.name));
  const wants: DeployWant[] = [];
  for (const p of wanted) {
    const r = revisions.find((x) => x.networkId === p.placement.networkId && x.number === p.revision);
    if (!r) continue;
    const saved = r.conflist as Record<string, unknown>;
    const rendered = render(p.name, saved);
    // The name in that revision's config: a rename reaches a host with the revision that made it.
    wants.push({ network: typeof saved.name === "string" ? saved.name : p.name, revision: r.number, conflist: rendered === saved ? r.text : `${JSON.stringify(rendered, null, 2)}\n`, drift: p.placement.drift });
  }
  return wants.sort((a, b) => a.network.localeCompare(b.network));
}

const NetworkName = z.string().min(1).max(NETWORK_NAME_MAX_LENGTH).regex(SAFE_NAME_RE, SAFE_NAME_RULE);
/** What an agent reports of its conf dir after each apply (apps/agent/src/confdir/deploy.ts's ConfDirReport). */
export const ConfDirReportInput = z.object({
  error: z.string().max(2000).optional(),
  actions: z
    .array(
      z.object({
        kind: z.enum(["keep", "create", "update", "restore", "drifted", "conflict", "remove", "left"]),
        network: NetworkName,
        file: z.string().min(1).max(300),
        revision: z.number().int().min(0),
        change: z.enum(["edited", "deleted"]).optional(),
        diff: z.string().max(20_000).optional(),
        with: z.array(z.string().max(300)).max(50).optional(),
        error: z.string().max(2000).optional(),
      }),
    )
    .max(1000),
});
export type ConfDirReportInput = z.infer<typeof ConfDirReportInput>;

/** A file's state as the pages show it, from the agent's last action on it. */
function fileState(action: ConfDirReportInput["actions"][number]): string {
  if (action.error) return "failed";
  if (action.kind === "drifted" || action.kind === "conflict" || action.kind === "left") return action.kind;
  return "deployed";
}

/** The whole picture of the host's conf dir as its agent last applied it: rows it no longer reports go (the caller then moves rollouts on: advanceRollouts). */
export async function recordConfDirReport(ctx: Pick<Ctx, "db" | "events">, hostId: string, report: ConfDirReportInput): Promise<{ recorded: number }> {
  const kept = report.actions.filter((a) => a.kind !== "remove" || a.error);
  const now = dbNow();
  await ctx.db.$transaction(async (tx) => {
    await tx.host.update({ where: { id: hostId }, data: { confDirError: report.error ?? "" } });
    // An apply that could not look at the dir says nothing of its files: they stay as last reported.
    if (report.error) return;
    await tx.hostNetworkFile.deleteMany({ where: { hostId, networkName: { notIn: kept.map((a) => a.network) } } });
    for (const a of kept) {
      // A file not written (failed, conflict) holds no revision of the agent's; a drifted one the revision last written.
      const revision = a.error || a.kind === "conflict" ? null : a.revision;
      const data = { file: a.file, state: fileState(a), revision, action: a.kind, change: a.change ?? "", diff: a.diff ?? "", conflictWith: a.with ?? [], error: a.error ?? "", reportedAt: now };
      await tx.hostNetworkFile.upsert({ where: { hostId_networkName: { hostId, networkName: a.network } }, create: { hostId, networkName: a.network, ...data }, update: data });
    }
  });
  return { recorded: kept.length };
}

export interface HostDeployment {
  hostId: string;
  hostName: string;
  /** The placement takes this host. */
  placed: boolean;
  /** The revision it should hold (the placement's, or a rollout's that reached it), when placed. */
  wantedRevision: number | null;
  /** What its agent last reported; null before its first report. */
  file: { name: string; state: string; revision: number | null; action: string; change: string; diff: string; conflictWith: string[]; error: string; reportedAt: Date } | null;
  /** Placed and holding the revision it should. */
  current: boolean;
  confDirError: string;
}

type FileRow = { file: string; state: string; revision: number | null; action: string; change: string; diff: string; conflictWith: unknown; error: string; reportedAt: Date };
const fileView = (f: FileRow): NonNullable<HostDeployment["file"]> => ({ name: f.file, state: f.state, revision: f.revision, action: f.action, change: f.change, diff: f.diff, conflictWith: f.conflictWith as string[], error: f.error, reportedAt: f.reportedAt });

/** Per host: whether the network is placed there, and which revision its conf dir holds. */
export async function deploymentStatus(db: Db, networkId: string): Promise<{ placement: Placement | null; latestRevision: number; hosts: HostDeployment[] }> {
  const network = await db.network.findUnique({ where: { id: networkId }, select: { name: true, latestRevision: true } });
  if (!network) throw new ApiError("NOT_FOUND", `network ${networkId} does not exist`);
  const placement = await placementOf(db, networkId);
  const files = await db.hostNetworkFile.findMany({ where: { networkName: network.name }, include: { host: { select: { name: true, confDirError: true } } } });
  const placedIds = new Set(await hostsTaken(db, placement));
  const hosts = await db.host.findMany({ where: { OR: [{ id: { in: [...placedIds] } }, { id: { in: files.map((f) => f.hostId) } }] }, select: { id: true, name: true, confDirError: true }, orderBy: { name: "asc" } });
  return {
    placement,
    latestRevision: network.latestRevision,
    hosts: hosts.map((h) => {
      const f = files.find((x) => x.hostId === h.id);
      const placed = placedIds.has(h.id);
      return {
        hostId: h.id,
        hostName: h.name,
        placed,
        wantedRevision: placed && placement ? revisionFor(placement, h.id) : null,
        file: f ? fileView(f) : null,
        current: placed && !!placement && f?.state === "deployed" && f.revision === revisionFor(placement, h.id),
        confDirError: h.confDirError,
      };
    }),
  };
}

/** One network on one host's page: placed there or not, the revision it should hold, and its file as the agent last reported it. */
export interface NetworkOnHost {
  networkId: string | null;
  networkName: string;
  placed: boolean;
  wantedRevision: number | null;
  file: HostDeployment["file"];
  current: boolean;
}

/** The host's side of deployments (issue 16 §1): every network placed on it or with a file of the agent's there, and its conf dir's error. */
export async function deploymentsOnHost(db: Db, hostId: string): Promise<{ confDirError: string; networks: NetworkOnHost[] }> {
  const host = await db.host.findUnique({ where: { id: hostId }, select: { id: true, labels: true, confDirError: true } });
  if (!host) throw new ApiError("NOT_FOUND", `host ${hostId} does not exist`);
  const placements = (await db.networkPlacement.findMany({ include: { network: { select: { name: true } } } })).map((r) => ({ name: r.network.name, placement: toPlacement(r) }));
  const placed = new Map(placements.filter((p) => placementTakes(p.placement, host)).map((p) => [p.name, p.placement]));
  const files = await db.hostNetworkFile.findMany({ where: { hostId } });
  const names = [...new Set([...placed.keys(), ...files.map((f) => f.networkName)])].sort();
  const ids = new Map((await db.network.findMany({ where: { name: { in: names } }, select: { id: true, name: true } })).map((n) => [n.name, n.id]));
  return {
    confDirError: host.confDirError,
    networks: names.map((name) => {
      const placement = placed.get(name);
      const f = files.find((x) => x.networkName === name);
      const wantedRevision = placement ? revisionFor(placement, hostId) : null;
      return {
        networkId: ids.get(name) ?? null,
        networkName: name,
        placed: !!placement,
        wantedRevision,
        file: f ? fileView(f) : null,
        current: !!placement && f?.state === "deployed" && f.revision === wantedRevision,
      };
    }),
  };
}

