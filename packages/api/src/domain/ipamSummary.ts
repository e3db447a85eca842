import { addressCount, firstUsable, lastUsable, toCidr } from "@switchyard/ipam";
import { Prisma, type Db } from "@switchyard/db";
import { ApiError } from "../errors";
import { RESERVATION_CONTAINER_ID } from "./ipamReservations";
import { LIVE_SQL, reportingHosts, sharesL2, STORED_BLOCK_PREFIX } from "./ipamMap";
import { dbNow } from "../clock";

/** The use-over-time plot: this many hourly points, ending now. */
export const USAGE_HOURS = 7 * 24;

export interface SubnetUse {
  cidr: string;
  /** Addresses of the subnet but its network and broadcast addresses. */
  usable: number;
  leased: number;
  live: number;
  suspect: number;
  reserved: number;
}

export interface IpamSummary {
  networkId: string;
  networkName: string;
  sharesL2: boolean;
  subnets: SubnetUse[];
  hosts: { hostId: string; hostName: string; leases: number; reportedAt: Date }[];
  /** Leases held at the end of each hour (oldest first), from the history kept. */
  usage: { at: Date; leases: number }[];
}

/** A network's utilisation per subnet and host, and its use over the last week. */
export async function readIpamSummary(db: Db, networkId: string, now = dbNow()): Promise<IpamSummary> {
  const network = (
    await db.$queryRaw<{ id: string; name: string; conflist: unknown }[]>`
      SELECT n.id, n.name, r.conflist FROM "Network" n
      JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision" WHERE n.id = ${networkId}`
  )[0];
  if (!network) throw new ApiError("NOT_FOUND", `network ${networkId} does not exist`);
  const several = (await reportingHosts(db, network.name)) > 1;
  const subnets = several ? await subnetsPerAddress(db, network.id) : await subnetsFromBlocks(db, network.id);
  const hosts = await db.$queryRaw<{ hostId: string; hostName: string; leases: number; reportedAt: Date }[]>`
    SELECT h.id AS "hostId", h.name AS "hostName", s."leaseCount" AS leases, s."reportedAt"
    FROM "HostIpamNetwork" s JOIN "Host" h ON h.id = s."hostId"
    WHERE s."networkName" = ${network.name}
    ORDER BY h.name LIMIT 500`;
  const since = new Date(Math.floor(now.getTime() / 3600_000) * 3600_000 - (USAGE_HOURS - 1) * 3600_000);
  // Kept per hour by a trigger on LeaseEvent (migration 20261206065500_lease_usage_hours).
  const deltas = await db.$queryRaw<{ hour: Date; delta: number }[]>`
    SELECT hour, delta FROM "LeaseUsageHour"
    WHERE "networkName" = ${network.name} AND hour >= (${since.toISOString()}::timestamptz AT TIME ZONE 'UTC')`;
  // Every lease of the network's name, whichever console network it was matched to (as the events are kept).
  const current = (
    await db.$queryRaw<{ n: number }[]>`SELECT COALESCE(sum(leased), 0)::int AS n FROM "LeaseBlock" WHERE "networkName" = ${network.name}`
  )[0]!.n;
  return {
    networkId: network.id,
    networkName: network.name,
    sharesL2: sharesL2(network.conflist),
    subnets: subnets.map((s) => ({ ...s, suspect: s.leased - s.live, usable: usableCount(s.cidr) })),
    hosts,
    usage: usageSeries(current, deltas, since),
  };
}

type SubnetCount = { cidr: string; leased: number; live: number; reserved: number };

/** Addresses an operator reserved in the subnet `s` (SQL, per NetworkSubnet row). */
const RESERVED_SQL = Prisma.sql`COALESCE((SELECT sum(r."lastAddress" - r."firstAddress" + 1) FROM "IpamReservation" r
  WHERE r."networkId" = s."networkId" AND s.cidr >>= r."firstAddress"), 0)::int`;

/**
 * A network one host reports (each address is one lease): a subnet of whole 256-address blocks
 * sums LeaseBlock's blocks inside it; a smaller one (an IPv4 /25 or longer) counts its few leases.
 * Live as judgeLease and the map say: a namespace that is gone holds nothing, a live attachment or
 * another runtime's holder whose namespace lives does.
 */
async function subnetsFromBlocks(db: Db, networkId: string): Promise<SubnetCount[]> {
  return db.$queryRaw<SubnetCount[]>`
    SELECT s.cidr::text AS cidr, x.leased, x.live, ${RESERVED_SQL} AS reserved
    FROM "NetworkSubnet" s
    CROSS JOIN LATERAL (
      SELECT COALESCE(sum(b.leased), 0)::int AS leased, COALESCE(sum(b.live), 0)::int AS live
      FROM "LeaseBlock" b WHERE b."networkId" = s."networkId" AND b.block <<= s.cidr
    ) AS x
    WHERE s."networkId" = ${networkId}
      AND masklen(s.cidr) <= CASE family(s.cidr) WHEN 4 THEN ${STORED_BLOCK_PREFIX[4]}::int ELSE ${STORED_BLOCK_PREFIX[6]}::int END
    UNION ALL
    SELECT s.cidr::text, x.leased, x.live, ${RESERVED_SQL}
    FROM "NetworkSubnet" s
    CROSS JOIN LATERAL (
      SELECT count(*) FILTER (WHERE l."containerId" <> ${RESERVATION_CONTAINER_ID})::int AS leased,
        count(*) FILTER (WHERE l."containerId" <> ${RESERVATION_CONTAINER_ID} AND ${LIVE_SQL})::int AS live
      FROM "Lease" l WHERE l."networkId" = s."networkId" AND l.address <<= s.cidr
    ) AS x
    WHERE s."networkId" = ${networkId}
      AND masklen(s.cidr) > CASE family(s.cidr) WHEN 4 THEN ${STORED_BLOCK_PREFIX[4]}::int ELSE ${STORED_BLOCK_PREFIX[6]}::int END
    ORDER BY 1`;
}

/** Several hosts report the network: an address held on two of them counts once. */
async function subnetsPerAddress(db: Db, networkId: string): Promise<SubnetCount[]> {
  return db.$queryRaw<SubnetCount[]>`
    SELECT s.cidr::text AS cidr, x.leased, x.live, ${RESERVED_SQL} AS reserved
    FROM "NetworkSubnet" s
    CROSS JOIN LATERAL (
      SELECT count(DISTINCT l.address) FILTER (WHERE l."containerId" <> ${RESERVATION_CONTAINER_ID})::int AS leased,
        count(DISTINCT l.address) FILTER (WHERE ${LIVE_SQL})::int AS live
      FROM "Lease" l WHERE l."networkId" = s."networkId" AND l.address <<= s.cidr
    ) AS x
    WHERE s."networkId" = ${networkId}
    ORDER BY s.cidr`;
}

/** Usable addresses of a subnet, capped at 2^31 (an IPv6 /64 is "very many", not a number to plot). */
function usableCount(cidrText: string): number {
  const cidr = toCidr(cidrText);
  if (addressCount(cidr) > 1n << 31n) return 2 ** 31;
  return Number(lastUsable(cidr).value - firstUsable(cidr).value + 1n);
}

/** Walks back from the current count: the count at the end of an hour is now's minus what came after. */
export function usageSeries(current: number, deltas: { hour: Date; delta: number }[], since: Date): { at: Date; leases: number }[] {
  const byHour = new Map(deltas.map((d) => [new Date(d.hour).getTime(), d.delta]));
  const series: { at: Date; leases: number }[] = [];
  let count = current;
  for (let i = USAGE_HOURS - 1; i >= 0; i--) {
    const hour = since.getTime() + i * 3600_000;
    series.push({ at: new Date(hour + 3600_000), leases: Math.max(0, count) });
    count -= byHour.get(hour) ?? 0;
  }
  return series.reverse();
}
