import type { Db } from "@switchyard/db";
import { CONTAINER_ID_MAX_LENGTH, NETWORK_NAME_MAX_LENGTH } from "@switchyard/cni/names";
import { z } from "zod";
import { dbNow } from "../clock";
import { ApiError } from "../errors";
import { Labels } from "../schemas/services";
import type { Ctx } from "./networks";
import { publishChange, recordServiceChange } from "./services";

/**
 * Containers other runtimes attached on a host (issue 16 §3): the host's agent reports, whole, the
 * libcni cache entries it did not make with what the runtime says of each container
 * (apps/agent/src/observed). Read-only here: Switchyard never runs ADD or DEL for them. A network
 * name the console does not know is kept and shown as foreign, not refused.
 */

/** At most this many per host report (the agent sends no more). */
export const OBSERVED_MAX = 5000;

const Text = (max: number) => z.string().max(max);
export const ObservedReportInput = z.object({
  attachments: z
    .array(
      z.object({
        runtime: z.enum(["podman", "containerd", "unknown"]),
        containerId: z.string().min(1).max(CONTAINER_ID_MAX_LENGTH),
        networkName: z.string().min(1).max(NETWORK_NAME_MAX_LENGTH),
        ifName: Text(15).min(1),
        netns: Text(4096),
        name: Text(255),
        image: Text(512),
        // The agent sends only pairs a selector may match; anything else is refused whole (re-validated here).
        labels: Labels,
        labelsLeftOut: z.number().int().min(0).max(100_000),
        state: Text(32),
        addresses: z.array(Text(64)).max(64),
      }),
    )
    .max(OBSERVED_MAX),
  runtimes: z.array(z.object({ runtime: z.enum(["podman", "containerd"]), ok: z.boolean(), error: Text(500).optional() })).max(8),
});
export type ObservedReportInput = z.infer<typeof ObservedReportInput>;

/** The part of a host's observed containers a service's member selector reads, as one comparable text. */
function selectable(rows: readonly { networkName: string; containerId: string; ifName: string; labels: unknown; addresses: unknown; state: string }[]): string {
  return JSON.stringify(
    rows
      .filter((r) => r.state === "running" && Object.keys((r.labels ?? {}) as object).length > 0)
      // jsonb keeps its own key order: labels are compared as sorted pairs.
      .map((r) => [r.networkName, r.containerId, r.ifName, Object.entries(r.labels as Record<string, string>).sort(([a], [b]) => a.localeCompare(b)), r.addresses])
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  );
}

const keyOf = (r: { networkName: string; containerId: string; ifName: string }) => `${r.networkName}\u0000${r.containerId}\u0000${r.ifName}`;
/** Everything a row says besides its key, comparable (jsonb keeps its own key order: labels as sorted pairs). */
const formOf = (r: { runtime: string; name: string; image: string; labels: unknown; labelsLeftOut: number; state: string; netns: string; addresses: unknown }) =>
  JSON.stringify([r.runtime, r.name, r.image, Object.entries((r.labels ?? {}) as Record<string, string>).sort(([a], [b]) => a.localeCompare(b)), r.labelsLeftOut, r.state, r.netns, r.addresses]);

/** The host's whole picture replaces what it said before, in one transaction; a change a member selector reads moves the services on. */
export async function recordObserved(ctx: Pick<Ctx, "db" | "events">, hostId: string, report: ObservedReportInput): Promise<{ recorded: number }> {
  const seen = new Set<string>();
  for (const a of report.attachments) {
    const key = keyOf(a);
    if (seen.has(key)) throw new ApiError("BAD_INPUT", `container ${a.containerId} on network ${a.networkName} (${a.ifName}) is reported twice`);
    seen.add(key);
  }
  const now = dbNow();
  const generation = await ctx.db.$transaction(async (tx) => {
    const host = await tx.host.findUniqueOrThrow({ where: { id: hostId }, select: { name: true } });
    const before = await tx.observedAttachment.findMany({ where: { hostId } });
    await tx.host.update({ where: { id: hostId }, data: { observedRuntimes: report.runtimes } });
    // Only what changed is written: a host with a thousand containers reports on each start and stop, and
    // rewriting every row each time made a burst quadratic. A row's observedAt is when it took its present form.
    const incoming = new Map(report.attachments.map((a) => [keyOf(a), a]));
    const stale = before.filter((r) => {
      const a = incoming.get(keyOf(r));
      return !a || formOf(a) !== formOf(r);
    });
    const staleKeys = new Set(stale.map(keyOf));
    const kept = new Set(before.map(keyOf).filter((k) => !staleKeys.has(k)));
    for (let i = 0; i < stale.length; i += 500) {
      await tx.observedAttachment.deleteMany({ where: { hostId, OR: stale.slice(i, i + 500).map(({ networkName, containerId, ifName }) => ({ networkName, containerId, ifName })) } });
    }
    const fresh = report.attachments.filter((a) => !kept.has(keyOf(a)));
    if (fresh.length > 0) await tx.observedAttachment.createMany({ data: fresh.map((a) => ({ hostId, ...a, observedAt: now })) });
    // What a member selector reads changed (a labelled container came, went, or changed its addresses): the services move on.
    if (selectable(before) === selectable(report.attachments)) return null;
    return recordServiceChange(tx, { summary: `host ${host.name}: containers of other runtimes changed`, actorName: `host:${host.name}` });
  });
  ctx.events.publish("host", { kind: "seen", hostId });
  if (generation !== null) publishChange(ctx, generation);
  return { recorded: report.attachments.length };
}

export interface ObservedRow {
  hostId: string;
  hostName: string;
  runtime: string;
  containerId: string;
  networkName: string;
  ifName: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  labelsLeftOut: number;
  state: string;
  addresses: string[];
  observedAt: Date;
}

/** A page shows at most this many; `total` says how many there are. */
export const OBSERVED_PAGE_MAX = 2000;

/** The containers other runtimes attached to this network, on every host: the first OBSERVED_PAGE_MAX, and how many in all. */
export async function observedOnNetwork(db: Db, networkId: string): Promise<{ network: string; attachments: ObservedRow[]; total: number }> {
  const network = await db.network.findUnique({ where: { id: networkId }, select: { name: true } });
  if (!network) throw new ApiError("NOT_FOUND", `network ${networkId} does not exist`);
  const where = { networkName: network.name };
  const [rows, total] = await Promise.all([
    db.observedAttachment.findMany({ where, include: { host: { select: { name: true } } }, orderBy: [{ hostId: "asc" }, { containerId: "asc" }], take: OBSERVED_PAGE_MAX }),
    db.observedAttachment.count({ where }),
  ]);
  return {
    network: network.name,
    total,
    attachments: rows.map(({ host, labels, addresses, ...r }) => ({ ...r, hostName: host.name, labels: labels as Record<string, string>, addresses: addresses as string[] })),
  };
}

/** The containers other runtimes attached on one host (the first OBSERVED_PAGE_MAX, and how many in all), each with its network (null: a network the console does not know, shown as foreign), and whether its runtimes answered. */
export async function observedOnHost(db: Db, hostId: string): Promise<{ runtimes: unknown; attachments: (ObservedRow & { networkId: string | null })[]; total: number }> {
  const host = await db.host.findUnique({ where: { id: hostId }, select: { name: true, observedRuntimes: true } });
  if (!host) throw new ApiError("NOT_FOUND", `host ${hostId} does not exist`);
  const [rows, total] = await Promise.all([
    db.observedAttachment.findMany({ where: { hostId }, orderBy: [{ networkName: "asc" }, { containerId: "asc" }], take: OBSERVED_PAGE_MAX }),
    db.observedAttachment.count({ where: { hostId } }),
  ]);
  const networks = await db.network.findMany({ where: { name: { in: [...new Set(rows.map((r) => r.networkName))] } }, select: { id: true, name: true } });
  const idOf = new Map(networks.map((n) => [n.name, n.id]));
  return {
    runtimes: host.observedRuntimes,
    total,
    attachments: rows.map(({ labels, addresses, ...r }) => ({ ...r, hostName: host.name, labels: labels as Record<string, string>, addresses: addresses as string[], networkId: idOf.get(r.networkName) ?? null })),
  };
}
