import type { Db } from "@switchyard/db";
import { z } from "zod";
import type { EventBus } from "../events";
import { checkedPort, healthKey, resolveServices } from "./serviceDesired";
import { recordServiceChange } from "./services";

/**
 * Health checks of pool members (issue 12): the agent of a member's host checks it (the console
 * says which members and how), reports each verdict, and a verdict that changes whether a member
 * takes connections is a new version for every host, so an unhealthy member stops receiving new
 * flows everywhere within one push.
 */

/** One member to check, in the agent's terms (ms; the agent validates it again). */
export interface HealthTargetOut {
  key: string;
  address: string;
  port: number;
  check:
    | { kind: "tcp"; intervalMs: number; timeoutMs: number; healthyThreshold: number; unhealthyThreshold: number }
    | { kind: "http"; path: string; expectedStatus: number; intervalMs: number; timeoutMs: number; healthyThreshold: number; unhealthyThreshold: number };
}

/**
 * The members living on `hostId` (attached there, or added by hand with that host) of services
 * with a check; of the services named only, when `serviceIds` is given.
 */
export async function healthTargetsFor(db: Db, hostId: string, serviceIds?: readonly string[]): Promise<HealthTargetOut[]> {
  const out = new Map<string, HealthTargetOut>();
  for (const family of [4, 6] as const) {
    for (const s of await resolveServices(db, family, hostId, serviceIds ? { serviceIds } : undefined)) {
      const hc = s.spec.healthCheck;
      if (!hc) continue;
      const timing = { intervalMs: hc.intervalSeconds * 1000, timeoutMs: hc.timeoutSeconds * 1000, healthyThreshold: hc.healthyThreshold, unhealthyThreshold: hc.unhealthyThreshold };
      const check = hc.kind === "http" ? { kind: "http" as const, path: hc.path, expectedStatus: hc.expectStatus, ...timing } : { kind: "tcp" as const, ...timing };
      for (const m of s.members) {
        if (m.hostId !== hostId) continue;
        const port = checkedPort(s.spec, m);
        const key = healthKey(s.id, m.address, port);
        out.set(key, { key, address: m.address, port, check });
      }
    }
  }
  return [...out.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}

export const HealthReportInput = z.object({
  reports: z
    .array(
      z.object({
        key: z.string().min(1).max(200),
        status: z.enum(["unknown", "healthy", "unhealthy"]),
        latencyMs: z.number().int().min(0).max(3_600_000).nullable(),
        message: z.string().max(500),
        checkedAt: z.coerce.date(),
      }),
    )
    .max(10_000),
});
export type HealthReportInput = z.infer<typeof HealthReportInput>;

/**
 * Records an agent's verdicts. Only members this host checks are taken (a host cannot mark
 * another's members down); a change to or from `unhealthy` is a new version for every host.
 */
export async function recordHealthReports(ctx: { db: Db; events: EventBus }, host: { id: string; name: string }, input: HealthReportInput): Promise<{ recorded: number; ignored: number; flipped: number }> {
  // Checked against the host's own targets, of the services the report names only (every 5 s per host).
  const named = [...new Set(input.reports.map((r) => r.key.split("|")[0]!))];
  const mine = new Set((await healthTargetsFor(ctx.db, host.id, named)).map((t) => t.key));
  const taken = input.reports.filter((r) => mine.has(r.key));
  if (taken.length === 0) return { recorded: 0, ignored: input.reports.length, flipped: 0 };
  const flipped = await ctx.db.$transaction(async (tx) => {
    // Per service: a verdict moves only its own service's members (MemberHealth is per service),
    // so each service's page knows which version its hosts must reach.
    const changes = new Map<string, string[]>();
    for (const r of taken) {
      const [serviceId, address, portText] = r.key.split("|") as [string, string, string];
      const port = Number(portText);
      const before = await tx.memberHealth.findUnique({ where: { serviceId_address_port: { serviceId, address, port } }, select: { status: true } });
      const changed = (before?.status ?? "unknown") !== r.status;
      await tx.memberHealth.upsert({
        where: { serviceId_address_port: { serviceId, address, port } },
        create: { serviceId, address, port, hostId: host.id, status: r.status, lastLatencyMs: r.latencyMs, lastMessage: r.message, checkedAt: r.checkedAt, since: r.checkedAt },
        update: { hostId: host.id, status: r.status, lastLatencyMs: r.latencyMs, lastMessage: r.message, checkedAt: r.checkedAt, ...(changed ? { since: r.checkedAt } : {}) },
      });
      // Only `unhealthy` takes a member out (isSelectable): other changes move no rule.
      if (changed && (before?.status === "unhealthy" || r.status === "unhealthy")) changes.set(serviceId, [...(changes.get(serviceId) ?? []), `${address}:${port} ${r.status}`]);
    }
    for (const [serviceId, list] of changes) {
      await recordServiceChange(tx, { summary: `health on ${host.name}: ${list.slice(0, 5).join(", ")}${list.length > 5 ? ", …" : ""}`, serviceId, actorName: `host:${host.name}` });
    }
    return [...changes.values()].reduce((n, l) => n + l.length, 0);
  });
  // A member came or went: every agent fetches its rules again. Otherwise only the pages care
  // (the last latency and message): the host's doorbell, which agents' streams do not act on.
  if (flipped > 0) ctx.events.publish("services", { kind: "changed" });
  else ctx.events.publish("host", { kind: "seen", hostId: host.id });
  return { recorded: taken.length, ignored: input.reports.length - taken.length, flipped };
}
