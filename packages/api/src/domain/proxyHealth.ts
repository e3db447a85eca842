import { ServiceId } from "@switchyard/dataplane/desired";
import type { Db } from "@switchyard/db";
import { z } from "zod";
import type { EventBus } from "../events";
import { dbNow, dbNowMs } from "../clock";

/**
 * Passive health of the hosts' userspace proxies (issue 14 §4): each agent reports the members
 * its proxy has ejected (the whole list, on every change); the service page shows them beside the
 * active checks' verdicts, with the reason and when the ejection ends. An ejection is the proxy's
 * own doing on that host: it is not a new desired version, and the other hosts do not follow it.
 */

const Ms = z.number().int().min(0).max(8.64e15);

export const ProxyEjection = z.object({
  serviceId: ServiceId,
  /** The listener (`10.96.0.10:80`) and member (`10.1.0.5:8080`) as the proxy keys them. */
  listener: z.string().min(1).max(64),
  member: z.string().min(1).max(64),
  reason: z.string().max(300),
  since: Ms,
  until: Ms,
  /** The how-many-th ejection in a row (its length grows with it). */
  count: z.number().int().min(1).max(1_000_000),
});
export type ProxyEjection = z.infer<typeof ProxyEjection>;

export const ProxyHealthReport = z.object({ ejections: z.array(ProxyEjection).max(10_000) });
export type ProxyHealthReport = z.infer<typeof ProxyHealthReport>;

export async function recordProxyHealth(ctx: { db: Db; events: EventBus }, hostId: string, input: ProxyHealthReport): Promise<{ ejections: number }> {
  const ejections = input.ejections as unknown as object[];
  await ctx.db.hostProxyHealth.upsert({
    where: { hostId },
    create: { hostId, ejections, reportedAt: dbNow() },
    update: { ejections, reportedAt: dbNow() },
  });
  // The service pages listen to their hosts' doorbell.
  ctx.events.publish("host", { kind: "seen", hostId });
  return { ejections: input.ejections.length };
}

export interface MemberEjection {
  hostId: string;
  hostName: string;
  listener: string;
  member: string;
  reason: string;
  since: Date;
  until: Date;
  count: number;
}

/** The ejections in force now for `serviceId`, on every host, newest first. */
export async function ejectionsOf(db: Db, serviceId: string, now = dbNowMs()): Promise<MemberEjection[]> {
  const rows = await db.hostProxyHealth.findMany({ select: { hostId: true, ejections: true, host: { select: { name: true } } } });
  const out: MemberEjection[] = [];
  for (const row of rows) {
    const parsed = z.array(ProxyEjection).safeParse(row.ejections);
    if (!parsed.success) continue;
    for (const e of parsed.data) {
      if (e.serviceId !== serviceId || e.until <= now) continue;
      out.push({ hostId: row.hostId, hostName: row.host.name, listener: e.listener, member: e.member, reason: e.reason, since: new Date(e.since), until: new Date(e.until), count: e.count });
    }
  }
  return out.sort((a, b) => b.since.getTime() - a.since.getTime());
}
