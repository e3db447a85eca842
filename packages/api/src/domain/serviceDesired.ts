import { type DesiredMember, type DesiredService, DesiredServices, MemberState, SERVICE_LIMITS, memberAddressProblem } from "@switchyard/dataplane/desired";
import type { Db, DbTx } from "@switchyard/db";
import { compareIps, parseCidr, toIp } from "@switchyard/ipam";
import { DEFAULT_POOL, PoolName, ProxySettings } from "@switchyard/dataplane/proxy";
import { type LabelSelector, ServiceSpec, selectorMatches } from "../schemas/services";
import { liveRegistrations } from "./serviceRegistrations";
import { currentServiceGeneration } from "./services";
import { dbNow } from "../clock";

/**
 * What one host must program for its services (issue 12), computed from the console's state at
 * one version: the services whose host selector takes the host, each with its members: ready
 * attachments the pool's selector matches (on any host), members added by hand, with each
 * member's weight and state from the spec. The agent re-validates the result with the same
 * schema before it renders a rule.
 */

export interface ResolvedMember extends DesiredMember {
  /** The proxy plane's pool (always named here; `default` unless the spec says otherwise). */
  pool: string;
  source: "selector" | "manual" | "registered";
  attachmentId: string | null;
  hostId: string | null;
  hostName: string | null;
  containerId: string | null;
}

export interface ResolvedService {
  id: string;
  name: string;
  vip: string;
  family: 4 | 6;
  revision: number;
  spec: ServiceSpec;
  members: ResolvedMember[];
  /** Members the selector matched beyond the pool's bound (left out). */
  truncated: number;
}

/** A live member registered through the API (serviceRegistrations.ts). */
export type RegisteredMember = { address: string; port: number | null; hostId: string | null; weight: number; state: string };

/** An attachment a member selector may choose: Switchyard's own (ready), or a container another runtime attached (observed, running; issue 16 §4). */
type ReadyAttachment = { id: string; hostId: string; hostName: string; containerId: string; labels: Record<string, string>; result: unknown; observed?: boolean };

/** Addresses of `family` in an attachment's CNI result, with the network they sit on. */
function resultAddresses(result: unknown, family: 4 | 6): { address: string; cidr: string }[] {
  const ips = (result as { ips?: { address?: unknown }[] } | null)?.ips;
  if (!Array.isArray(ips)) return [];
  const out: { address: string; cidr: string }[] = [];
  for (const ip of ips) {
    if (typeof ip?.address !== "string") continue;
    const parsed = parseCidr(ip.address, { allowHostBits: true });
    if (parsed.ok && parsed.value.family === family) out.push({ address: parsed.value.address.text, cidr: `${parsed.value.network.text}/${parsed.value.prefixLength}` });
  }
  return out;
}

/** The port a member's health check connects to: its own, else the service's first target port. */
export const checkedPort = (spec: ServiceSpec, member: { port: number | null }) => member.port ?? spec.ports[0]!.targetPort;
/** A member's key in MemberHealth and in the agents' health reports. */
export const healthKey = (serviceId: string, address: string, port: number) => `${serviceId}|${address}|${port}`;

export type HealthVerdicts = ReadonlyMap<string, "unknown" | "healthy" | "unhealthy">;

/** As `localHostId`: seen from every host at once, each member keeps its local CIDR (the plan strips other hosts'). */
export const EVERY_HOST = "*";

/**
 * A service's members, resolved against the attachments: `localHostId` gets localCidr for its
 * own; each member's health is its last verdict (`unknown` before one), `none` without a check.
 * Where two sources name one endpoint, the first stays: added by hand, registered, selected.
 */
export function resolveMembers(
  spec: ServiceSpec,
  family: 4 | 6,
  attachments: readonly ReadyAttachment[],
  localHostId: string | null,
  verdicts: { serviceId: string; of: HealthVerdicts } | null = null,
  registered: readonly RegisteredMember[] = [],
): { members: ResolvedMember[]; truncated: number } {
  const healthOf = (address: string, port: number | null) =>
    !spec.healthCheck ? ("none" as const) : (verdicts?.of.get(healthKey(verdicts.serviceId, address, checkedPort(spec, { port }))) ?? "unknown");
  const overrides = new Map(spec.overrides.map((o) => [o.attachmentId, o]));
  const members: ResolvedMember[] = [];
  const seen = new Set<string>();
  let truncated = 0;
  // One destination per service port: a member naming its own port and one without (using the
  // port's target port) at the same address are the same endpoint; the first one stays.
  const add = (m: ResolvedMember) => {
    const keys = [`${m.address}/${m.port ?? "*"}`, ...spec.ports.map((p) => `${m.address}/${m.port ?? p.targetPort}`)];
    if (keys.some((k) => seen.has(k)) || memberAddressProblem(m.address)) return;
    if (members.length >= SERVICE_LIMITS.membersPerService) return void truncated++;
    for (const k of keys) seen.add(k);
    members.push(m);
  };
  for (const m of spec.manualMembers) {
    if (m.address.includes(":") !== (family === 6)) continue;
    add({ source: "manual", attachmentId: null, hostId: m.hostId, hostName: null, containerId: null, address: m.address, port: m.port, weight: m.weight, state: m.state, health: healthOf(m.address, m.port), localCidr: null, pool: m.pool });
  }
  for (const r of registered) {
    const state = MemberState.safeParse(r.state);
    // A registered port only fits a one-port service (checked when registered; the service may have gained a port since).
    if (r.address.includes(":") !== (family === 6) || !state.success || (r.port !== null && spec.ports.length > 1)) continue;
    add({ source: "registered", attachmentId: null, hostId: r.hostId, hostName: null, containerId: null, address: r.address, port: r.port, weight: r.weight, state: state.data, health: healthOf(r.address, r.port), localCidr: null, pool: DEFAULT_POOL });
  }
  if (spec.memberSelector) {
    const selector: LabelSelector = spec.memberSelector;
    const chosen: ResolvedMember[] = [];
    for (const a of attachments) {
      if (!selectorMatches(selector, a.labels)) continue;
      // Overrides name Switchyard's own attachments; an observed container has no attachment id.
      const o = a.observed ? undefined : overrides.get(a.id);
      for (const ip of resultAddresses(a.result, family)) {
        chosen.push({
          source: "selector",
          attachmentId: a.observed ? null : a.id,
          hostId: a.hostId,
          hostName: a.hostName,
          containerId: a.containerId,
          address: ip.address,
          port: null,
          weight: o?.weight ?? 100,
          state: o?.state ?? "active",
          health: healthOf(ip.address, null),
          localCidr: localHostId === EVERY_HOST || a.hostId === localHostId ? ip.cidr : null,
          pool: o?.pool ?? poolFromLabel(spec, a.labels),
        });
      }
    }
    // In address order: the same pool reads the same on every host and in every version.
    const ipOf = new Map(chosen.map((m) => [m.address, toIp(m.address)]));
    chosen.sort((x, y) => compareIps(ipOf.get(x.address)!, ipOf.get(y.address)!));
    for (const m of chosen) add(m);
  }
  return { members, truncated };
}

/** An attachment's pool from the label the proxy settings name, when its value is a pool name; else `default`. */
function poolFromLabel(spec: ServiceSpec, labels: Record<string, string>): string {
  const key = spec.proxy?.poolLabel;
  const value = key ? labels[key] : undefined;
  return value !== undefined && PoolName.safeParse(value).success ? value : DEFAULT_POOL;
}

async function readyAttachments(tx: Db | DbTx): Promise<ReadyAttachment[]> {
  // Only labelled attachments can match a selector (ServiceSpec refuses an empty one).
  const rows = await tx.$queryRaw<ReadyAttachment[]>`
    SELECT a.id, a."hostId", h.name AS "hostName", a."containerId", a.labels, a.result
    FROM "Attachment" a JOIN "Host" h ON h.id = a."hostId"
    WHERE a.state = 'ready' AND a.present AND a.labels <> '{}'::jsonb AND h."revokedAt" IS NULL
    ORDER BY a.id`;
  // Containers other runtimes run, labelled, as their hosts' agents last saw them: their addresses are the CNI result's.
  const observed = await tx.$queryRaw<{ hostId: string; hostName: string; networkName: string; containerId: string; ifName: string; labels: Record<string, string>; addresses: string[] }[]>`
    SELECT o."hostId", h.name AS "hostName", o."networkName", o."containerId", o."ifName", o.labels, o.addresses
    FROM "ObservedAttachment" o JOIN "Host" h ON h.id = o."hostId"
    WHERE o.state = 'running' AND o.labels <> '{}'::jsonb AND h."revokedAt" IS NULL
    ORDER BY o."hostId", o."networkName", o."containerId", o."ifName"`;
  return [
    ...rows,
    ...observed.map((o) => ({
      id: `observed/${o.hostId}/${o.networkName}/${o.containerId}/${o.ifName}`,
      hostId: o.hostId,
      hostName: o.hostName,
      containerId: o.containerId,
      labels: o.labels,
      result: { ips: o.addresses.map((address) => ({ address })) },
      observed: true,
    })),
  ];
}

/**
 * Every service of `family` (or only `only.serviceIds`) with its latest spec and members, for one
 * host's view (or none). One page, one health report or one service reads only the services it names.
 * `proposed` resolves one service with a spec not yet written (the plan shown before applying).
 */
export async function resolveServices(
  tx: Db | DbTx,
  family: 4 | 6,
  localHostId: string | null,
  only?: { serviceIds: readonly string[] },
  proposed?: { serviceId: string; spec: ServiceSpec },
): Promise<ResolvedService[]> {
  const ids = only ? [...only.serviceIds] : null;
  const services = await tx.service.findMany({ where: { family, ...(ids ? { id: { in: ids } } : {}) }, orderBy: { name: "asc" }, select: { id: true, name: true, vip: true, family: true, latestRevision: true } });
  if (services.length === 0) return [];
  const specs = await tx.serviceRevision.findMany({
    where: { OR: services.map((s) => ({ serviceId: s.id, number: s.latestRevision })) },
    select: { serviceId: true, spec: true },
  });
  const specOf = new Map(specs.map((r) => [r.serviceId, ServiceSpec.parse(r.spec)]));
  if (proposed && specOf.has(proposed.serviceId)) specOf.set(proposed.serviceId, proposed.spec);
  const attachments = await readyAttachments(tx);
  const registeredOf = new Map<string, RegisteredMember[]>();
  for (const r of await liveRegistrations(tx, services.map((s) => s.id))) {
    const list = registeredOf.get(r.serviceId) ?? [];
    list.push(r);
    registeredOf.set(r.serviceId, list);
  }
  const verdicts = new Map<string, "unknown" | "healthy" | "unhealthy">();
  for (const h of await tx.memberHealth.findMany({ where: { serviceId: { in: services.map((s) => s.id) } }, select: { serviceId: true, address: true, port: true, status: true } })) {
    verdicts.set(healthKey(h.serviceId, h.address, h.port), h.status as "unknown" | "healthy" | "unhealthy");
  }
  return services.map((s) => {
    const spec = specOf.get(s.id)!;
    const { members, truncated } = resolveMembers(spec, family, attachments, localHostId, { serviceId: s.id, of: verdicts }, registeredOf.get(s.id));
    return { id: s.id, name: s.name, vip: s.vip, family, revision: s.latestRevision, spec, members, truncated };
  });
}

/** The desired services of one host for one family, at the current version. */
export async function desiredServicesFor(db: Db, hostId: string, family: 4 | 6): Promise<DesiredServices> {
  return db.$transaction(
    async (tx) => {
      const version = await currentServiceGeneration(tx);
      const host = await tx.host.findUniqueOrThrow({ where: { id: hostId }, select: { labels: true } });
      const hostLabels = (host.labels ?? {}) as Record<string, string>;
      const cidrs = (await tx.serviceCidr.findMany({ where: { family }, orderBy: { cidr: "asc" }, select: { cidr: true } })).map((c) => c.cidr);
      const services = (await resolveServices(tx, family, hostId)).filter((s) => s.spec.hostSelector === null || selectorMatches(s.spec.hostSelector, hostLabels));
      const desired: DesiredServices = {
        version: Number(version),
        family,
        serviceCidrs: cidrs,
        services: services.map(
          (s): DesiredService => ({
            id: s.id,
            name: s.name,
            vip: s.vip,
            ports: s.spec.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol, port: p.port, targetPort: p.targetPort })),
            affinity: s.spec.affinityTimeoutSeconds === null ? null : { timeoutSeconds: s.spec.affinityTimeoutSeconds },
            members: s.members.map(({ address, port, weight, state, health, localCidr, pool }) => ({ address, port, weight, state, health, localCidr, ...(pool === DEFAULT_POOL ? {} : { pool }) })),
            // On the proxy plane (issue 14) the host's proxy carries it: the kernel only lets its VIP through.
            ...(s.spec.dataPlane === "proxy" ? { plane: "proxy" as const, proxy: s.spec.proxy ?? ProxySettings.parse({}) } : {}),
          }),
        ),
      };
      // The console checks what it sends with the schema the agent checks it with.
      return DesiredServices.parse(desired);
    },
    { isolationLevel: "RepeatableRead" },
  );
}

/** An agent's report of what it applied (or failed to), fenced: an older version never overwrites a newer one. */
export async function recordServicesApplied(
  db: Db,
  hostId: string,
  report: { family: 4 | 6; version: number; applyMs: number | null; error: string | null },
): Promise<{ recorded: boolean }> {
  const version = BigInt(report.version);
  const now = dbNow();
  const rows = report.error
    ? await db.$executeRaw`
        INSERT INTO "HostServiceState" ("hostId", family, error, "failedGeneration", "reportedAt")
        VALUES (${hostId}, ${report.family}::int, ${report.error.slice(0, 2000)}, ${version}, ${now})
        ON CONFLICT ("hostId", family) DO UPDATE SET error = EXCLUDED.error, "failedGeneration" = EXCLUDED."failedGeneration", "reportedAt" = EXCLUDED."reportedAt"
        WHERE "HostServiceState"."appliedGeneration" IS NULL OR "HostServiceState"."appliedGeneration" < EXCLUDED."failedGeneration"`
    : await db.$executeRaw`
        INSERT INTO "HostServiceState" ("hostId", family, "appliedGeneration", "appliedAt", "applyMs", error, "reportedAt")
        VALUES (${hostId}, ${report.family}::int, ${version}, ${now}, ${report.applyMs}, '', ${now})
        ON CONFLICT ("hostId", family) DO UPDATE SET "appliedGeneration" = EXCLUDED."appliedGeneration", "appliedAt" = EXCLUDED."appliedAt",
          "applyMs" = EXCLUDED."applyMs", error = '', "failedGeneration" = NULL, "reportedAt" = EXCLUDED."reportedAt"
        WHERE "HostServiceState"."appliedGeneration" IS NULL OR "HostServiceState"."appliedGeneration" < EXCLUDED."appliedGeneration"`;
  return { recorded: rows > 0 };
}
