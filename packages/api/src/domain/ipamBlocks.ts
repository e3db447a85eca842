import type { Db, DbTx } from "@switchyard/db";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";
import { carveReservations, type ReservedSpan } from "./ipamReservationHoles";
import { type BlockSpan, blockCapacity, blockRangeSets, blockSizeProblem, blocksInside, needsAnotherBlock, nextFreeBlock, renderHostConflist } from "./ipamBlockMath";
import { dbNow } from "../clock";

type Ctx = Pick<Context, "db" | "events" | "session" | "meta">;

/**
 * Per-host blocks (issue 11 item 5), the database half: the per-network setting, a host's blocks
 * given in the transaction of its attachment's create, the list for the page, and the rendering of
 * the configs a host receives (claimed operations, desired attachments, current configs, drift).
 */

/** The lock every block change of one network takes for its transaction: two hosts never get one block. */
async function lockNetworkBlocks(tx: DbTx, networkId: string): Promise<void> {
  await tx.$queryRaw`SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtext('switchyard.ipam-blocks'), hashtext(${networkId}::text))) AS l`;
}

async function latestConflist(tx: DbTx | Db, networkId: string): Promise<{ name: string; conflist: unknown } | null> {
  const rows = await tx.$queryRaw<{ name: string; conflist: unknown }[]>`
    SELECT n.name, r.conflist FROM "Network" n JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"
    WHERE n.id = ${networkId}`;
  return rows[0] ?? null;
}

export interface BlockSetting {
  networkId: string;
  /** Addresses per block, or a prefix length like "/26", or null to switch per-host blocks off (the blocks given are dropped). */
  blockSize: number | `/${number}` | null;
}

/** A block size as an address count: "/26" of an IPv4 range is 64. */
function blockSizeOf(input: number | `/${number}`, family: 4 | 6, networkName: string): number {
  if (typeof input === "number") return input;
  const prefix = Number(input.slice(1));
  const bits = family === 4 ? 32 : 128;
  if (!Number.isInteger(prefix) || prefix > bits || bits - prefix > 30) {
    throw new ApiError("BAD_INPUT", `per-host blocks of network "${networkName}": block size "${input}" is not a usable IPv${family} prefix: give /${Math.max(0, bits - 30)} to /${bits - 1}`);
  }
  return 2 ** (bits - prefix);
}

/** Switches per-host blocks of a network on (with a block size) or off; audited. */
export async function setBlockPolicy(ctx: Ctx, input: BlockSetting): Promise<{ networkId: string; blockSize: number | null }> {
  let blockSize: number | null = null;
  const user = ctx.session!.user;
  return ctx.db.$transaction(async (tx) => {
    await lockNetworkBlocks(tx, input.networkId);
    const network = await latestConflist(tx, input.networkId);
    if (!network) throw new ApiError("NOT_FOUND", `network ${input.networkId} does not exist or has no saved config`);
    const before = await tx.ipamBlockPolicy.findUnique({ where: { networkId: input.networkId }, select: { blockSize: true } });
    if (input.blockSize === null) {
      await tx.ipamBlockPolicy.deleteMany({ where: { networkId: input.networkId } });
      await tx.ipamBlock.deleteMany({ where: { networkId: input.networkId } });
    } else {
      const sets = blockRangeSets(network.conflist);
      // A prefix is read in the first set's family; the size (addresses) then holds for every set.
      blockSize = blockSizeOf(input.blockSize, sets[0]?.[0]?.family ?? 4, network.name);
      const problem = sets.length === 0 ? blockSizeProblem([], blockSize) : sets.map((set, i) => ({ i, problem: blockSizeProblem(set, blockSize!) })).find((p) => p.problem !== null);
      if (typeof problem === "string") throw new ApiError("BAD_INPUT", `per-host blocks of network "${network.name}": ${problem}`);
      if (problem) throw new ApiError("BAD_INPUT", `per-host blocks of network "${network.name}": ${sets.length > 1 ? `range set ${problem.i} (IPv${sets[problem.i]![0]!.family}): ` : ""}${problem.problem}`);
      const data = { blockSize, updatedById: user.id, updatedByName: user.username, updatedAt: dbNow() };
      await tx.ipamBlockPolicy.upsert({ where: { networkId: input.networkId }, create: { networkId: input.networkId, ...data }, update: data });
    }
    await writeAudit(tx, ctx, {
      action: "ipam.blocks.set",
      targetType: "network",
      targetId: input.networkId,
      targetName: network.name,
      before: { blockSize: before?.blockSize ?? null },
      after: { blockSize },
      outcome: "success",
    });
    return { networkId: input.networkId, blockSize };
  });
}

const spanRows = (tx: DbTx | Db, networkId: string) =>
  tx.$queryRaw<{ hostId: string; first: string; last: string }[]>`
    SELECT "hostId", host("firstAddress") AS first, host("lastAddress") AS last FROM "IpamBlock" WHERE "networkId" = ${networkId} ORDER BY "firstAddress"`;

/**
 * Gives the host a block in each range set of the network (a dual-stack network: one of its IPv4
 * set and one of its IPv6 set) when the network has per-host blocks and the host has none inside
 * that set, or another when its blocks there are nearly full (its present attachments, each taking
 * an address of every set, or the leases it reports inside those blocks, whichever is more). Runs
 * inside the attachment's create transaction: a host with no block and no free block left in a set
 * stops the create.
 */
export async function ensureHostBlock(tx: DbTx, networkId: string, hostId: string): Promise<BlockSpan[]> {
  const policy = await tx.ipamBlockPolicy.findUnique({ where: { networkId }, select: { blockSize: true } });
  if (!policy) return [];
  await lockNetworkBlocks(tx, networkId);
  const network = await latestConflist(tx, networkId);
  if (!network) return [];
  const all = await spanRows(tx, networkId);
  const mine = all.filter((b) => b.hostId === hostId);
  const [used] = mine.length === 0 ? [{ attachments: 0 }] : await tx.$queryRaw<{ attachments: number }[]>`
    SELECT count(*)::int AS attachments FROM "Attachment" WHERE "networkId" = ${networkId} AND "hostId" = ${hostId} AND present`;
  const leasesIn = mine.length === 0 ? [] : await tx.$queryRaw<{ first: string; leases: number }[]>`
    SELECT host(b."firstAddress") AS first, (SELECT count(*) FROM "Lease" l WHERE l."networkId" = b."networkId" AND l."hostId" = b."hostId"
      AND l.address BETWEEN b."firstAddress" AND b."lastAddress")::int AS leases
    FROM "IpamBlock" b WHERE b."networkId" = ${networkId} AND b."hostId" = ${hostId}`;
  const leasesOf = new Map(leasesIn.map((r) => [r.first, r.leases]));
  const given: BlockSpan[] = [];
  const sets = blockRangeSets(network.conflist);
  for (const [i, ranges] of sets.entries()) {
    const own = blocksInside(ranges, mine).map((b) => b.block);
    if (own.length > 0) {
      const leases = own.reduce((n, b) => n + (leasesOf.get(b.first) ?? 0), 0);
      if (!needsAnotherBlock(blockCapacity(own), Math.max(used!.attachments, leases), policy.blockSize)) continue;
    }
    const next = nextFreeBlock(ranges, policy.blockSize, [...all, ...given]);
    if (!next) {
      // A host with blocks goes on in them until host-local says they are full; one with none cannot start.
      if (own.length > 0) continue;
      const where = sets.length > 1 ? ` in range set ${i} (IPv${ranges[0]!.family})` : "";
      throw new ApiError("CONFLICT", `network "${network.name}" has no free block of ${policy.blockSize} addresses left for this host${where}: every block of ${sets.length > 1 ? "that set" : "its range"} is given to a host`);
    }
    await tx.$executeRaw`INSERT INTO "IpamBlock" ("networkId", "hostId", "firstAddress", "lastAddress") VALUES (${networkId}, ${hostId}, ${next.first}::inet, ${next.last}::inet)`;
    given.push(next);
  }
  return given;
}

export interface NetworkBlocks {
  blockSize: number | null;
  blocks: { hostId: string; hostName: string; first: string; last: string; size: number; leases: number; createdAt: Date }[];
}

/** A network's per-host block setting and its blocks with their hosts and the leases reported in each. */
export async function listBlocks(db: Db, networkId: string): Promise<NetworkBlocks> {
  const network = await db.network.findUnique({ where: { id: networkId }, select: { id: true, blockPolicy: { select: { blockSize: true } } } });
  if (!network) throw new ApiError("NOT_FOUND", `network ${networkId} does not exist`);
  const rows = await db.$queryRaw<{ hostId: string; hostName: string; first: string; last: string; leases: number; createdAt: Date }[]>`
    SELECT b."hostId", h.name AS "hostName", host(b."firstAddress") AS first, host(b."lastAddress") AS last, b."createdAt",
      (SELECT count(*) FROM "Lease" l WHERE l."networkId" = b."networkId" AND l."hostId" = b."hostId"
         AND l.address BETWEEN b."firstAddress" AND b."lastAddress")::int AS leases
    FROM "IpamBlock" b JOIN "Host" h ON h.id = b."hostId"
    WHERE b."networkId" = ${networkId} ORDER BY b."firstAddress"`;
  return { blockSize: network.blockPolicy?.blockSize ?? null, blocks: rows.map((r) => ({ ...r, size: blockCapacity([r]) })) };
}

/**
 * For each named network, the host's blocks (none: the network has no per-host blocks) and the
 * network's reservations, in one query.
 */
async function hostSpansByName(db: Db | DbTx, hostId: string, networkNames: readonly string[]) {
  const blocks = new Map<string, BlockSpan[]>();
  const reserved = new Map<string, ReservedSpan[]>();
  if (networkNames.length === 0) return { blocks, reserved };
  const names = [...new Set(networkNames)];
  const rows = await db.$queryRaw<{ kind: "block" | "reserved"; networkName: string; first: string; last: string }[]>`
    SELECT 'block' AS kind, n.name AS "networkName", host(b."firstAddress") AS first, host(b."lastAddress") AS last
    FROM "IpamBlock" b JOIN "Network" n ON n.id = b."networkId"
    WHERE b."hostId" = ${hostId} AND n.name = ANY(${names}::text[])
    UNION ALL
    SELECT 'reserved', n.name, host(r."firstAddress"), host(r."lastAddress")
    FROM "IpamReservation" r JOIN "Network" n ON n.id = r."networkId"
    WHERE n.name = ANY(${names}::text[])`;
  for (const r of rows) {
    const into = r.kind === "block" ? blocks : reserved;
    into.set(r.networkName, [...(into.get(r.networkName) ?? []), { first: r.first, last: r.last }]);
  }
  return { blocks, reserved };
}

/**
 * A renderer of the configs this host receives: each network's conflist with its host-local range
 * narrowed to the host's blocks (as it is where the host has none), and the network's reserved
 * addresses cut out of its ranges (ipamReservationHoles.ts). Reads both once.
 */
export async function hostRenderer(db: Db | DbTx, hostId: string, networkNames: readonly string[]): Promise<<T>(networkName: string, conflist: T) => T> {
  const { blocks, reserved } = await hostSpansByName(db, hostId, networkNames);
  return (networkName, conflist) => {
    if (conflist === null || conflist === undefined) return conflist;
    const own = blocks.get(networkName);
    const narrowed = own ? renderHostConflist(conflist, own) : conflist;
    const holes = reserved.get(networkName);
    return holes ? carveReservations(narrowed, holes) : narrowed;
  };
}

/** Whether the network gives hosts blocks (a primary-key read: the attach path asks it every time). */
export async function hasBlockPolicy(db: Db, networkId: string): Promise<boolean> {
  return (await db.ipamBlockPolicy.count({ where: { networkId } })) > 0;
}
