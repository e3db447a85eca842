import { addressCount, familyBits, lastAddress, toCidr, type Cidr } from "@switchyard/ipam";
import { Prisma, type Db } from "@switchyard/db";
import { ApiError } from "../errors";
import { judgeLease } from "./ipamLeaks";
import { RESERVATION_CONTAINER_ID } from "./ipamReservations";

/** A /24 or smaller is drawn one cell per address; above that, blocks. */
export const GRID_MAX_ADDRESSES = 256n;
/** Most holders of one address (several hosts) and most history events one read returns. */
const ADDRESS_HOLDERS_MAX = 64;
const ADDRESS_HISTORY_MAX = 200;

/** What a cell of the map shows for an address that has holders. */
export type LeaseStatus = "live" | "suspect" | "conflict" | "reserved";

export interface MapLease {
  address: string;
  hostId: string;
  hostName: string;
  containerId: string;
  ifName: string;
  attachmentId: string | null;
  attachmentState: string | null;
  seenIn: number;
  netns: string;
  netnsAlive: boolean | null;
  since: Date;
}

export interface MapCell {
  address: string;
  status: LeaseStatus;
  /** Every holder: more than one (on several hosts) is a conflict where the network shares L2. */
  holders: MapLease[];
}

export interface MapBlock {
  /** The block's CIDR (a /24 for IPv4). */
  block: string;
  leased: number;
  live: number;
  suspect: number;
  conflict: number;
}

/** A reservation that overlaps the CIDR shown. */
export interface MapReservation {
  id: string;
  first: string;
  last: string;
  note: string;
}

export type MapData = { cidr: string; reservations: MapReservation[] } & (
  | { kind: "grid"; cells: MapCell[] }
  | { kind: "blocks"; blockPrefix: number; blocks: MapBlock[] }
);

/** Most reservations one map read returns (each is at most 1,024 addresses). */
const MAP_RESERVATIONS_MAX = 1000;

/** Plugin types whose interfaces share one L2 segment across hosts: one address on two hosts collides. */
const SHARED_L2_TYPES = new Set(["macvlan", "ipvlan", "host-device", "vlan", "dummy"]);

/** Whether the network's main plugin puts containers of several hosts on one L2 segment. */
export function sharesL2(conflist: unknown): boolean {
  const plugins = (conflist as { plugins?: { type?: unknown }[] } | null)?.plugins;
  const type = Array.isArray(plugins) ? plugins[0]?.type : undefined;
  return typeof type === "string" && SHARED_L2_TYPES.has(type);
}

/**
 * The prefix of a heatmap's blocks: /24 for IPv4 (a /8 is at most 65,536 of them, sent sparse);
 * for IPv6, 256 blocks a level (a /64 shows /72s), down to /120 (256 addresses: a grid).
 */
export function blockPrefixOf(cidr: Cidr): number {
  if (cidr.family === 4) return 24;
  return Math.min(cidr.prefixLength + 8, familyBits(6) - 8);
}

/**
 * An address held only by reservation files is reserved; a reserved address someone else holds
 * too, or (where the network shares L2) one held on two hosts, is a conflict; otherwise it is live
 * when one holder's attachment is known and not detached, suspect when none is.
 */
export function cellStatus(holders: readonly MapLease[], l2: boolean): LeaseStatus {
  const real = holders.filter((h) => h.containerId !== RESERVATION_CONTAINER_ID);
  if (real.length === 0) return "reserved";
  if (real.length < holders.length) return "conflict";
  if (l2 && new Set(real.map((h) => h.hostId)).size > 1) return "conflict";
  // Held by another runtime whose namespace lives is held by a known holder: no suspect.
  return real.some((h) => judgeLease(h).verdict === "live" || judgeLease(h).verdict === "other-runtime") ? "live" : "suspect";
}

/**
 * Live as judgeLease says (ipamLeaks.ts): a console attachment that is not detached holds it
 * (Lease.held, kept by the ingest and by triggers on Attachment), or another runtime's holder
 * lives — unless its namespace is gone; else suspect. The SQL of cellStatus, and what LeaseBlock's
 * triggers count as live (migration 20261206100000_lease_blocks).
 */
export const LIVE_SQL = Prisma.sql`(l."netnsAlive" IS NOT FALSE AND (l.held OR l."netnsAlive" IS TRUE))`;

/** The prefix of LeaseBlock's blocks: 256 addresses, as the IPv4 heatmap draws them. */
export const STORED_BLOCK_PREFIX = { 4: 24, 6: 120 } as const;

async function networkOf(db: Db, networkId: string): Promise<{ id: string; name: string; conflist: unknown }> {
  const rows = await db.$queryRaw<{ id: string; name: string; conflist: unknown }[]>`
    SELECT n.id, n.name, r.conflist FROM "Network" n
    JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"
    WHERE n.id = ${networkId}`;
  const network = rows[0];
  if (!network) throw new ApiError("NOT_FOUND", `network ${networkId} does not exist`);
  return network;
}

/**
 * A heatmap block's key for the per-address path: its network address (IPv4's /24 as the address
 * without its last 8 bits, integer arithmetic: 50,000 leases grouped without an inet function per
 * row), and its text.
 */
function blockKey(family: 4 | 6, prefix: number): { key: (address: Prisma.Sql) => Prisma.Sql; text: Prisma.Sql } {
  if (family === 4) return { key: (a) => Prisma.sql`((${a} - '0.0.0.0'::inet) >> 8)`, text: Prisma.sql`(host('0.0.0.0'::inet + (x.k << 8)) || '/24')` };
  return { key: (a) => Prisma.sql`network(set_masklen(${a}, ${prefix}::int))`, text: Prisma.sql`x.k::text` };
}

/** How many hosts report the network's IPAM (0, 1 or 2: "several" is all the reads need). */
export async function reportingHosts(db: Db, networkName: string): Promise<number> {
  const rows = await db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM (SELECT 1 FROM "HostIpamNetwork" WHERE "networkName" = ${networkName} LIMIT 2) AS h`;
  return rows[0]?.n ?? 0;
}

/** The map of `cidr` in one network: a grid of its addresses' holders, or a heatmap of its blocks. */
export async function readIpamMap(db: Db, networkId: string, cidrText: string): Promise<MapData> {
  const cidr = toCidr(cidrText);
  const network = await networkOf(db, networkId);
  const l2 = sharesL2(network.conflist);
  const reservations = await db.$queryRaw<MapReservation[]>`
    SELECT id, host("firstAddress") AS first, host("lastAddress") AS last, note FROM "IpamReservation"
    WHERE "networkId" = ${network.id} AND "lastAddress" >= ${cidr.network.text}::inet AND "firstAddress" <= ${lastAddress(cidr).text}::inet
      AND family("firstAddress") = ${cidr.family}::int
    ORDER BY "firstAddress" LIMIT ${MAP_RESERVATIONS_MAX}`;
  if (addressCount(cidr) <= GRID_MAX_ADDRESSES) {
    const rows = await db.$queryRaw<MapLease[]>`
      SELECT host(l.address) AS address, l."hostId", h.name AS "hostName", l."containerId", l."ifName",
        l."attachmentId", a.state::text AS "attachmentState", l."seenIn", l.netns, l."netnsAlive", l.since
      FROM "Lease" l
      JOIN "Host" h ON h.id = l."hostId"
      LEFT JOIN "Attachment" a ON a.id = l."attachmentId"
      WHERE l."networkId" = ${network.id} AND l.address <<= ${cidr.text}::inet
      ORDER BY l.address, h.name`;
    const byAddress = new Map<string, MapLease[]>();
    for (const lease of rows) {
      const holders = byAddress.get(lease.address);
      if (holders) holders.push(lease);
      else byAddress.set(lease.address, [lease]);
    }
    const cells = [...byAddress].map(([address, holders]): MapCell => ({ address, status: cellStatus(holders, l2), holders }));
    return { kind: "grid", cidr: cidr.text, reservations, cells };
  }
  const blockPrefix = blockPrefixOf(cidr);
  const block = blockKey(cidr.family, blockPrefix);
  const inCidr = Prisma.sql`l."networkId" = ${network.id} AND l.address <<= ${cidr.text}::inet AND l."containerId" <> ${RESERVATION_CONTAINER_ID}`;
  // One host holds each address at most once (Lease's key is host, network and address): its
  // blocks are LeaseBlock's 256-address blocks, summed to the view's (a /16 is at most 256 rows,
  // not 50,000 leases). Several hosts: per address first (its holders on every host), then per block.
  const blocks = (await reportingHosts(db, network.name)) <= 1
    ? await db.$queryRaw<MapBlock[]>`
      SELECT x.k::text AS block, sum(x.leased)::int AS leased, 0 AS conflict, sum(x.live)::int AS live, sum(x.leased - x.live)::int AS suspect
      FROM (
        SELECT network(set_masklen(b.block, ${blockPrefix}::int)) AS k, b.leased, b.live FROM "LeaseBlock" b
        WHERE b."networkId" = ${network.id} AND b.block <<= ${cidr.text}::inet AND b.leased > 0
      ) AS x
      GROUP BY x.k ORDER BY x.k`
    : await db.$queryRaw<MapBlock[]>`
      SELECT ${block.text} AS block,
        count(*)::int AS leased,
        count(*) FILTER (WHERE x.conflict)::int AS conflict,
        count(*) FILTER (WHERE NOT x.conflict AND x.live)::int AS live,
        count(*) FILTER (WHERE NOT x.conflict AND NOT x.live)::int AS suspect
      FROM (
        SELECT ${block.key(Prisma.sql`l.address`)} AS k, bool_or(${LIVE_SQL}) AS live, (${l2}::boolean AND count(*) > 1) AS conflict
        FROM "Lease" l WHERE ${inCidr}
        GROUP BY l.address
      ) AS x
      GROUP BY x.k ORDER BY x.k`;
  return { kind: "blocks", cidr: cidr.text, reservations, blockPrefix, blocks };
}

export interface AddressEvent {
  at: Date;
  kind: string;
  hostName: string;
  containerId: string;
  ifName: string;
  attachmentId: string | null;
  actorName: string;
  detail: string;
}

/** One address of one network: who holds it now (on every host) and its history, newest first. */
export async function readIpamAddress(db: Db, networkId: string, address: string): Promise<{ address: string; holders: MapLease[]; history: AddressEvent[] }> {
  const network = await networkOf(db, networkId);
  const holders = await db.$queryRaw<MapLease[]>`
    SELECT host(l.address) AS address, l."hostId", h.name AS "hostName", l."containerId", l."ifName",
      l."attachmentId", a.state::text AS "attachmentState", l."seenIn", l.netns, l."netnsAlive", l.since
    FROM "Lease" l JOIN "Host" h ON h.id = l."hostId" LEFT JOIN "Attachment" a ON a.id = l."attachmentId"
    WHERE l."networkId" = ${network.id} AND l.address = ${address}::inet
    ORDER BY h.name LIMIT ${ADDRESS_HOLDERS_MAX}`;
  const history = await db.$queryRaw<AddressEvent[]>`
    SELECT e.at, e.kind::text AS kind, e."hostName", e."containerId", e."ifName", e."attachmentId", e."actorName", e.detail
    FROM "LeaseEvent" e
    WHERE e."networkName" = ${network.name} AND e.address = ${address}::inet
    ORDER BY e.at DESC, e.id DESC LIMIT ${ADDRESS_HISTORY_MAX}`;
  return { address, holders, history };
}

export interface AddressHolding {
  networkName: string;
  networkId: string | null;
  hostName: string;
  containerId: string;
  ifName: string;
  attachmentId: string | null;
  since: Date;
}

/**
 * "Who holds A now" (no `at`) or "who held A at T", in every network: now is the leases; at T,
 * for each (network, host) the last event at or before T, when it was an allocation.
 */
export async function searchIpamAddress(db: Db, address: string, at?: Date): Promise<AddressHolding[]> {
  if (!at) {
    return db.$queryRaw<AddressHolding[]>`
      SELECT l."networkName", l."networkId", h.name AS "hostName", l."containerId", l."ifName", l."attachmentId", l.since
      FROM "Lease" l JOIN "Host" h ON h.id = l."hostId"
      WHERE l.address = ${address}::inet
      ORDER BY l."networkName", h.name LIMIT ${ADDRESS_HOLDERS_MAX}`;
  }
  return db.$queryRaw<AddressHolding[]>`
    SELECT last."networkName", n.id AS "networkId", last."hostName", last."containerId", last."ifName", last."attachmentId", last.at AS since
    FROM (
      SELECT DISTINCT ON (e."networkName", e."hostName") e.*
      FROM "LeaseEvent" e
      WHERE e.address = ${address}::inet AND e.at <= (${at.toISOString()}::timestamptz AT TIME ZONE 'UTC')
        AND e.kind IN ('allocated', 'released', 'reclaimed')
      ORDER BY e."networkName", e."hostName", e.at DESC, e.id DESC
    ) AS last
    LEFT JOIN "Network" n ON n.name = last."networkName"
    WHERE last.kind = 'allocated'
    ORDER BY last."networkName", last."hostName" LIMIT ${ADDRESS_HOLDERS_MAX}`;
}
