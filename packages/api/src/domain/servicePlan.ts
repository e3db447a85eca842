import { type Belief, DesiredServices, type DesiredService, beliefTable, lowerTable, planSync } from "@switchyard/dataplane";
import type { Db, DbTx } from "@switchyard/db";
import { ApiError } from "../errors";
import { type PlanServiceInput, ServiceSpec, selectorMatches } from "../schemas/services";
import { EVERY_HOST, type ResolvedMember, type ResolvedService, resolveServices } from "./serviceDesired";
import { checkSpec } from "./services";
import { summarizeMembers, summarizeTables } from "./servicePlanSummary";

/**
 * The plan shown before a service change is applied (issue 12, item 5): for every host the service
 * is or would be programmed on, the exact nft transaction its agent would run (the agent's layout,
 * "compact", from a table that holds today's desired state), hosts grouped by identical text.
 * Writes nothing. Bounded for big fleets: a host's transaction depends only on this service, the
 * services sharing a member address with it (shared masquerade elements), whether the host has any
 * other service (the table exists) and, where one of its own members changes, its local CIDRs; it
 * is computed once per distinct combination of those, not once per host, and from those services
 * alone. The cost that remains grows with the services of the family (all are resolved, as a
 * host's own desired state does) and, for a change of ports, VIP or affinity, with the hosts
 * holding a member (each has its own text then).
 */

const LAYOUT = "compact" as const;
/** Host names listed per group; the rest are counted. */
const HOSTS_LISTED = 200;

export interface PlanGroup {
  /** `update`: the service stays on these hosts; `gained`/`lost`: a host-selector change adds or removes it. */
  change: "update" | "gained" | "lost";
  hostCount: number;
  hosts: { id: string; name: string }[];
  /** The table is created (the host had no service) or deleted (it has none left). */
  tableCreated: boolean;
  tableDeleted: boolean;
  /** The transaction, line by line, in the order the dataplane emits it. */
  lines: string[];
  summary: ReturnType<typeof summarizeTables>;
}

export interface ServicePlan {
  serviceId: string;
  serviceName: string;
  family: 4 | 6;
  /** The revision the plan was computed against: apply with it as the expected revision. */
  baseRevision: number;
  layout: typeof LAYOUT;
  members: ReturnType<typeof summarizeMembers>;
  groups: PlanGroup[];
  /** Selected before and after, with nothing to change. */
  unchanged: { hostCount: number; hosts: { id: string; name: string }[] };
  /** Hosts that do not program the service before or after. */
  unselectedCount: number;
}

type Host = { id: string; name: string; labels: Record<string, string> };

export async function planServiceChange(db: Db, input: PlanServiceInput): Promise<ServicePlan> {
  return db.$transaction((tx) => computePlan(tx, input), { isolationLevel: "RepeatableRead" });
}

async function proposedSpec(tx: DbTx, input: PlanServiceInput): Promise<ServiceSpec> {
  if (input.change.kind === "update") return input.change.spec;
  const target = await tx.serviceRevision.findUnique({ where: { serviceId_number: { serviceId: input.id, number: input.change.toRevision } }, select: { spec: true } });
  if (!target) throw new ApiError("NOT_FOUND", `Service ${input.id} has no revision ${input.change.toRevision}`);
  const parsed = ServiceSpec.safeParse(target.spec);
  if (!parsed.success) throw new ApiError("BAD_INPUT", `Revision ${input.change.toRevision} is no longer valid: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  return parsed.data;
}

async function computePlan(tx: DbTx, input: PlanServiceInput): Promise<ServicePlan> {
  const service = await tx.service.findUnique({ where: { id: input.id }, select: { id: true, name: true, family: true, latestRevision: true } });
  if (!service) throw new ApiError("NOT_FOUND", `Service ${input.id} does not exist`);
  if (input.expectedRevision !== undefined && input.expectedRevision !== service.latestRevision) {
    throw new ApiError("STALE_REVISION", `Service "${service.name}" is at revision ${service.latestRevision}, not ${input.expectedRevision}: reload and plan your change again`);
  }
  const family = service.family as 4 | 6;
  const spec = await proposedSpec(tx, input);
  // The same checks update applies: a plan of a change that would be refused is refused.
  await checkSpec(tx, spec, family);

  const all = await resolveServices(tx, family, EVERY_HOST);
  const before = all.find((s) => s.id === service.id);
  if (!before) throw new ApiError("NOT_FOUND", `Service ${input.id} does not exist`);
  const [after] = await resolveServices(tx, family, EVERY_HOST, { serviceIds: [service.id] }, { serviceId: service.id, spec });
  const others = all.filter((s) => s.id !== service.id);
  const cidrs = (await tx.serviceCidr.findMany({ where: { family }, orderBy: { cidr: "asc" }, select: { cidr: true } })).map((c) => c.cidr);
  const hosts = (await tx.host.findMany({ where: { revokedAt: null }, orderBy: { name: "asc" }, select: { id: true, name: true, labels: true } })).map(
    (h): Host => ({ id: h.id, name: h.name, labels: (h.labels ?? {}) as Record<string, string> }),
  );
  return {
    serviceId: service.id,
    serviceName: service.name,
    family,
    baseRevision: service.latestRevision,
    layout: LAYOUT,
    members: summarizeMembers(before.members, after!.members),
    ...planHosts({ before, after: after!, others, hosts, family, cidrs }),
  };
}

/** Services that hold an element a change of this service could share: a member at one of its addresses. */
function sharingServices(before: ResolvedService, after: ResolvedService, others: ResolvedService[]): ResolvedService[] {
  const addresses = new Set([...before.members, ...after.members].map((m) => m.address));
  return others.filter((s) => s.members.some((m) => addresses.has(m.address)));
}

const selects = (s: ResolvedService, labels: Record<string, string>) => s.spec.hostSelector === null || selectorMatches(s.spec.hostSelector, labels);

/** What a host receives for one service: each member's local CIDR only on the member's own host. */
function desiredService(s: ResolvedService, hostId: string | null): DesiredService {
  return {
    id: s.id,
    name: s.name,
    vip: s.vip,
    ports: s.spec.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol, port: p.port, targetPort: p.targetPort })),
    affinity: s.spec.affinityTimeoutSeconds === null ? null : { timeoutSeconds: s.spec.affinityTimeoutSeconds },
    members: s.members.map((m: ResolvedMember) => ({ address: m.address, port: m.port, weight: m.weight, state: m.state, health: m.health, localCidr: m.hostId === hostId ? m.localCidr : null })),
  };
}

/**
 * A member on a host renders differently there only in its own objects (its masquerade element and
 * member chain carry the host's CIDR), so a host computes alone only where those objects can show
 * in the diff: a local member of the planned service that changed, came or went (or every local
 * member when the ports, VIP or affinity changed), or one of a service sharing an address (its
 * shared element is kept or not depending on the side). `local`: every host holding a local member
 * of the planned service, alone too when the service comes or goes there. The int test checks the
 * text against each agent's own computation, hosts with local members included.
 */
function hostsOfLocalMembers(before: ResolvedService, after: ResolvedService, sharing: ResolvedService[]): { own: Set<string>; local: Set<string> } {
  const isLocal = (m: ResolvedMember) => m.localCidr !== null && m.hostId !== null;
  const key = (m: ResolvedMember) => `${m.address}|${m.port ?? "*"}`;
  const record = (m: ResolvedMember) => `${m.weight}|${m.state}|${m.health}|${m.localCidr}|${m.hostId}`;
  const shapeOf = (s: ResolvedService) => JSON.stringify([s.vip, s.spec.ports, s.spec.affinityTimeoutSeconds]);
  const reshaped = shapeOf(before) !== shapeOf(after);
  const was = new Map(before.members.map((m) => [key(m), record(m)]));
  const now = new Map(after.members.map((m) => [key(m), record(m)]));
  const own = new Set<string>();
  const local = new Set<string>();
  for (const [m, other] of [...before.members.map((m) => [m, now] as const), ...after.members.map((m) => [m, was] as const)]) {
    if (!isLocal(m)) continue;
    local.add(m.hostId!);
    if (reshaped || other.get(key(m)) !== record(m)) own.add(m.hostId!);
  }
  for (const s of sharing) for (const m of s.members) if (isLocal(m)) own.add(m.hostId!);
  return { own, local };
}

function planHosts(input: { before: ResolvedService; after: ResolvedService; others: ResolvedService[]; hosts: Host[]; family: 4 | 6; cidrs: string[] }) {
  const { before, after, others, hosts, family, cidrs } = input;
  const sharing = sharingServices(before, after, others);
  const { own, local } = hostsOfLocalMembers(before, after, sharing);
  const byLabels = new Map<string, { selBefore: boolean; selAfter: boolean; sharing: ResolvedService[]; placeholder: ResolvedService | null }>();
  const computed = new Map<string, { change: PlanGroup["change"]; transaction: string; tableCreated: boolean; tableDeleted: boolean; summary: PlanGroup["summary"] }>();
  const groups = new Map<string, PlanGroup>();
  const unchanged: { id: string; name: string }[] = [];
  let unchangedCount = 0;
  let unselectedCount = 0;

  for (const host of hosts) {
    const labelsKey = JSON.stringify(Object.entries(host.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let view = byLabels.get(labelsKey);
    if (!view) {
      const selected = sharing.filter((s) => selects(s, host.labels));
      // Whether the table exists besides this service: one other service stands for all of them.
      const placeholder = selected.length > 0 ? null : (others.find((s) => selects(s, host.labels)) ?? null);
      view = { selBefore: selects(before, host.labels), selAfter: selects(after, host.labels), sharing: selected, placeholder };
      byLabels.set(labelsKey, view);
    }
    if (!view.selBefore && !view.selAfter) {
      unselectedCount++;
      continue;
    }
    // Its own computation only where its own members could make its lines differ (see hostsOfLocalMembers).
    const alone = own.has(host.id) || (local.has(host.id) && view.selBefore !== view.selAfter);
    const key = `${labelsKey}|${alone ? host.id : ""}`;
    let result = computed.get(key);
    if (!result) {
      const around = [...view.sharing, ...(view.placeholder ? [view.placeholder] : [])];
      const state = (s: ResolvedService, selected: boolean) =>
        DesiredServices.parse({ version: 0, family, serviceCidrs: cidrs, services: [...(selected ? [s] : []), ...around].map((x) => desiredService(x, alone ? host.id : null)) });
      const from = planSync(null, state(before, view.selBefore), { layout: LAYOUT }).belief;
      const plan = planSync(from, state(after, view.selAfter), { layout: LAYOUT });
      result = {
        change: view.selBefore && view.selAfter ? "update" : view.selAfter ? "gained" : "lost",
        transaction: plan.transaction,
        tableCreated: from.table === null && plan.belief.table !== null,
        tableDeleted: from.table !== null && plan.belief.table === null,
        summary: summarizeTables(tableOf(from), tableOf(plan.belief)),
      };
      computed.set(key, result);
    }
    if (result.transaction === "") {
      unchangedCount++;
      if (unchanged.length < HOSTS_LISTED) unchanged.push({ id: host.id, name: host.name });
      continue;
    }
    const groupKey = `${result.change}\n${result.transaction}`;
    let group = groups.get(groupKey);
    if (!group) {
      group = { change: result.change, hostCount: 0, hosts: [], tableCreated: result.tableCreated, tableDeleted: result.tableDeleted, lines: result.transaction.trimEnd().split("\n"), summary: result.summary };
      groups.set(groupKey, group);
    }
    group.hostCount++;
    if (group.hosts.length < HOSTS_LISTED) group.hosts.push({ id: host.id, name: host.name });
  }
  return { groups: [...groups.values()].sort((a, b) => b.hostCount - a.hostCount), unchanged: { hostCount: unchangedCount, hosts: unchanged }, unselectedCount };
}

const tableOf = (belief: Belief) => {
  const ir = beliefTable(belief);
  return ir === null ? null : lowerTable(ir);
};
