import { findSubnetOverlaps, networkSubnets, type ConfigIssue, type Conflist } from "@switchyard/cni/config";
import type { Db, DbTx } from "@switchyard/db";

/** Overlapping networks named in warnings at most; a /8 over thousands of /24s says enough with these. */
const MAX_OVERLAPPING_NETWORKS = 50;

/**
 * Replaces the network's indexed subnets with those of its latest revision (one statement). Every
 * write of a latest revision calls it in the same transaction, so the index never lags.
 */
export async function indexSubnets(tx: Db | DbTx, networkId: string, conflist: Conflist): Promise<void> {
  const cidrs = JSON.stringify(networkSubnets(conflist));
  await tx.$executeRaw`
    WITH gone AS (DELETE FROM "NetworkSubnet" WHERE "networkId" = ${networkId}::text)
    INSERT INTO "NetworkSubnet" ("networkId", cidr)
    SELECT ${networkId}::text, network(c::inet)::inet FROM jsonb_array_elements_text(${cidrs}::jsonb) AS c`;
}

/**
 * Overlap with other networks' subnets is a warning, never a refusal. The GiST index on the
 * subnets finds the few networks that overlap (`&&`: either contains the other), so the cost does
 * not grow with the number of networks; their configs then get the same check the editor runs.
 */
export async function overlapWarnings(db: Db | DbTx, conflist: Conflist, exceptId?: string): Promise<ConfigIssue[]> {
  const cidrs = networkSubnets(conflist);
  if (cidrs.length === 0) return [];
  // One GiST lookup per subnet (LATERAL, bounded), then the few networks found by primary key: no
  // plan here reads every network.
  const others = await db.$queryRaw<{ name: string; conflist: Conflist }[]>`
    SELECT n.name, r.conflist
    FROM (
      SELECT DISTINCT hit."networkId"
      FROM jsonb_array_elements_text(${JSON.stringify(cidrs)}::jsonb) AS c
      CROSS JOIN LATERAL (
        SELECT s."networkId" FROM "NetworkSubnet" s
        WHERE s.cidr && network(c::inet)::inet AND s."networkId" <> ${exceptId ?? ""}::text
        LIMIT ${MAX_OVERLAPPING_NETWORKS + 1}
      ) AS hit
      LIMIT ${MAX_OVERLAPPING_NETWORKS + 1}
    ) AS hit
    -- OFFSET 0 keeps this a lookup by primary key per network found (not a hash join over all).
    CROSS JOIN LATERAL (SELECT id, name, "latestRevision" FROM "Network" WHERE id = hit."networkId" OFFSET 0) AS n
    JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"
    WHERE n.name <> ${conflist.name}::text
    ORDER BY n.name
    LIMIT ${MAX_OVERLAPPING_NETWORKS}`;
  return findSubnetOverlaps(conflist, others);
}
