import type { Db } from "@switchyard/db";
import type { Within } from "../auth/tokenLimits";
import { ApiError } from "../errors";
import { ServiceSpec, selectorMatches } from "../schemas/services";
import { ejectionsOf } from "./proxyHealth";
import { type ResolvedService, checkedPort, resolveServices } from "./serviceDesired";
import { currentServiceGeneration } from "./services";
import { isSelectable } from "@switchyard/dataplane/desired";

/**
 * The services pages' reads: the list (VIP, ports, members selectable/total, hosts applied/total)
 * and one service (its spec, members, revisions, and desired against applied on every host).
 */

export interface HostServiceRow {
  hostId: string;
  hostName: string;
  /** The host's agent reached the version of the service's last change (or later). */
  applied: boolean;
  appliedGeneration: number | null;
  appliedAt: Date | null;
  applyMs: number | null;
  error: string;
  /** Edit → applied: from the service's last change to the host's report of a version at or past it. */
  editToAppliedMs: number | null;
}

async function hostsOf(db: Db) {
  return db.host.findMany({ where: { revokedAt: null }, orderBy: { name: "asc" }, select: { id: true, name: true, labels: true, serviceStates: true } });
}

function hostRows(service: ResolvedService, hosts: Awaited<ReturnType<typeof hostsOf>>, lastChange: { generation: bigint; at: Date } | undefined): HostServiceRow[] {
  return hosts
    .filter((h) => service.spec.hostSelector === null || selectorMatches(service.spec.hostSelector, (h.labels ?? {}) as Record<string, string>))
    .map((h) => {
      const state = h.serviceStates.find((s) => s.family === service.family);
      const applied = !!state?.appliedGeneration && !!lastChange && state.appliedGeneration >= lastChange.generation;
      return {
        hostId: h.id,
        hostName: h.name,
        applied,
        appliedGeneration: state?.appliedGeneration === null || state?.appliedGeneration === undefined ? null : Number(state.appliedGeneration),
        appliedAt: state?.appliedAt ?? null,
        applyMs: state?.applyMs ?? null,
        error: state?.error ?? "",
        editToAppliedMs: applied && state?.appliedAt && lastChange ? Math.max(0, state.appliedAt.getTime() - lastChange.at.getTime()) : null,
      };
    });
}

type LastChange = { generation: bigint; at: Date };

/**
 * Per service, the last change that may have altered what hosts program for it: its own (an
 * edit, a registration), or a later one not tied to a service (a health verdict, an attachment
 * becoming ready, labels, the CIDRs, lapsed registrations), which may have changed its members.
 * A host is "applied" for the service only once it reached that version.
 */
async function lastChanges(db: Db): Promise<{ of: (serviceId: string) => LastChange | undefined }> {
  const rows = await db.$queryRaw<{ serviceId: string | null; generation: bigint; at: Date }[]>`
    SELECT DISTINCT ON ("serviceId") "serviceId", generation, at FROM "ServiceChange" ORDER BY "serviceId", generation DESC`;
  const unattributed = rows.find((r) => r.serviceId === null);
  const own = new Map(rows.filter((r) => r.serviceId !== null).map((r) => [r.serviceId!, { generation: r.generation, at: r.at }]));
  return {
    of: (serviceId) => {
      const mine = own.get(serviceId);
      if (!unattributed || (mine && mine.generation > unattributed.generation)) return mine;
      return { generation: unattributed.generation, at: unattributed.at };
    },
  };
}

/** Every service (those of `within` for a limited API token), with its members and hosts. */
export async function listServices(db: Db, within: Within | null = null) {
  const only = within ? { serviceIds: [...within.serviceIds] } : undefined;
  const resolved = [...(await resolveServices(db, 4, null, only)), ...(await resolveServices(db, 6, null, only))].sort((a, b) => a.name.localeCompare(b.name));
  const hosts = await hostsOf(db);
  const changes = await lastChanges(db);
  return resolved.map((s) => {
    const rows = hostRows(s, hosts, changes.of(s.id));
    return {
      id: s.id,
      name: s.name,
      vip: s.vip,
      family: s.family,
      revision: s.revision,
      ports: s.spec.ports,
      members: { total: s.members.length, selectable: s.members.filter(isSelectable).length },
      hosts: { total: rows.length, applied: rows.filter((r) => r.applied).length, failed: rows.filter((r) => r.error !== "").length },
    };
  });
}

export async function getService(db: Db, id: string) {
  const row = await db.service.findUnique({ where: { id }, select: { family: true } });
  if (!row) throw new ApiError("NOT_FOUND", `Service ${id} does not exist`);
  const [service] = await resolveServices(db, row.family as 4 | 6, null, { serviceIds: [id] });
  if (!service) throw new ApiError("NOT_FOUND", `Service ${id} does not exist`);
  const changes = await lastChanges(db);
  const revisions = await db.serviceRevision.findMany({ where: { serviceId: id }, orderBy: { number: "desc" }, take: 100, select: { number: true, comment: true, authorName: true, createdAt: true } });
  const health = new Map(
    (await db.memberHealth.findMany({ where: { serviceId: id }, select: { address: true, port: true, lastLatencyMs: true, lastMessage: true, checkedAt: true, since: true } })).map((h) => [`${h.address}|${h.port}`, h]),
  );
  // Passive health (issue 14): what the hosts' proxies ejected, matched to members by address and target port.
  const ejections = await ejectionsOf(db, id);
  const endpoint = (address: string, port: number) => (address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`);
  return {
    ...service,
    members: service.members.map((m) => {
      const h = health.get(`${m.address}|${checkedPort(service.spec, m)}`);
      const keys = new Set(service.spec.ports.map((p) => endpoint(m.address, m.port ?? p.targetPort)));
      return {
        ...m,
        selectable: isSelectable(m),
        lastCheck: h ? { latencyMs: h.lastLatencyMs, message: h.lastMessage, at: h.checkedAt, since: h.since } : null,
        ejections: ejections.filter((e) => keys.has(e.member)),
      };
    }),
    ejections,
    generation: Number(await currentServiceGeneration(db)),
    lastChange: ((c) => (c ? { generation: Number(c.generation), at: c.at } : null))(changes.of(id)),
    hosts: hostRows(service, await hostsOf(db), changes.of(id)),
    revisions,
  };
}

export async function getServiceRevision(db: Db, id: string, number: number) {
  const r = await db.serviceRevision.findUnique({ where: { serviceId_number: { serviceId: id, number } }, select: { number: true, spec: true, comment: true, authorName: true, createdAt: true } });
  if (!r) throw new ApiError("NOT_FOUND", `Service ${id} has no revision ${number}`);
  return { ...r, spec: ServiceSpec.parse(r.spec) };
}
