import type { Db } from "@switchyard/db";
import { sharesL2 } from "./ipamMap";
import { RESERVATION_CONTAINER_ID } from "./ipamReservations";

/**
 * Records a `conflict` event for each address this host holds that another host holds too, in the
 * reported networks whose type shares L2 (macvlan, ipvlan, ...): once per conflict, not at every
 * report: an address gets no second event while the holders that made the conflict stay (an event
 * at or after the later holder's `since` is the record of this conflict). Returns how many it wrote.
 */
export async function recordConflicts(db: Db, host: { id: string; name: string }, networkNames: readonly string[]): Promise<number> {
  if (networkNames.length === 0) return 0;
  const networks = await db.$queryRaw<{ name: string; conflist: unknown }[]>`
    SELECT n.name, r.conflist FROM "Network" n JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"
    WHERE n.name = ANY(${[...new Set(networkNames)]}::text[])`;
  const shared = networks.filter((n) => sharesL2(n.conflist)).map((n) => n.name);
  if (shared.length === 0) return 0;
  // Two hosts reporting one conflict at once: the second waits, then finds the first's event.
  const [, written] = await db.$transaction([
    db.$queryRaw`SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtext('switchyard.ipam-conflicts'), 0)) AS l`,
    db.$executeRaw`
    INSERT INTO "LeaseEvent" (at, kind, "networkName", address, "hostId", "hostName", "containerId", "ifName", "attachmentId", detail)
    SELECT now() AT TIME ZONE 'UTC', 'conflict', mine."networkName", mine.address, ${host.id}, ${host.name}, mine."containerId", mine."ifName",
      mine."attachmentId", 'also held on host ' || oh.name || ' by container ' || other."containerId" || ' (' || other."ifName" || ')'
    FROM "Lease" mine
    JOIN LATERAL (
      SELECT o."hostId", o."containerId", o."ifName", o.since FROM "Lease" o
      WHERE o."networkName" = mine."networkName" AND o.address = mine.address AND o."hostId" <> mine."hostId" AND o."containerId" <> ${RESERVATION_CONTAINER_ID}
      ORDER BY o.since LIMIT 1
    ) other ON true
    JOIN "Host" oh ON oh.id = other."hostId"
    WHERE mine."hostId" = ${host.id} AND mine."networkName" = ANY(${shared}::text[]) AND mine."containerId" <> ${RESERVATION_CONTAINER_ID}
      AND NOT EXISTS (
        SELECT 1 FROM "LeaseEvent" e
        WHERE e."networkName" = mine."networkName" AND e.address = mine.address AND e.kind = 'conflict' AND e.at >= GREATEST(mine.since, other.since)
      )`,
  ]);
  return written;
}
