import { compareIps, toIp } from "@switchyard/ipam";
import { Prisma, type Db, type DbTx } from "@switchyard/db";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";

type Ctx = Pick<Context, "db" | "session" | "meta">;

/**
 * Most addresses one reservation covers. Each reserved address is a lease file the agent keeps on
 * every host of the network (that is what stops host-local from handing it out), and a history
 * event: a /22 is plenty for gateways, VIPs and appliances; more is a range change.
 */
export const RESERVATION_MAX_ADDRESSES = 1024;
/** Holders named in a refusal at most. */
const NAMED_HOLDERS = 5;
/**
 * A lease file naming this container id holds an address for a reservation (host-local reads it as
 * taken; the map shows it as reserved). Reservations are enforced by the configs hosts receive
 * (ipamReservationHoles.ts), so nothing of ours writes such files now: an operator may, by hand, to
 * fence an address on one host.
 */
export const RESERVATION_CONTAINER_ID = "switchyard-reservation";

export interface ReservationInput {
  networkId: string;
  first: string;
  last?: string;
  note: string;
}

export interface Reservation {
  id: string;
  networkId: string;
  first: string;
  last: string;
  note: string;
  createdByName: string;
  createdAt: Date;
}

/** A reservation's columns as `Reservation` names them (SELECT and RETURNING share them). */
const RESERVATION_COLUMNS = Prisma.sql`id, "networkId", host("firstAddress") AS first, host("lastAddress") AS last, note, "createdByName", "createdAt"`;
const SELECT_RESERVATION = Prisma.sql`SELECT ${RESERVATION_COLUMNS} FROM "IpamReservation"`;

export async function listReservations(db: Db, networkId: string): Promise<Reservation[]> {
  return db.$queryRaw<Reservation[]>`${SELECT_RESERVATION} WHERE "networkId" = ${networkId} ORDER BY "firstAddress"`;
}

/**
 * Reserves an address or a range of a network. Refused, with nothing written, when the range is
 * backwards, mixes families, is larger than RESERVATION_MAX_ADDRESSES, lies outside the network's
 * subnets, overlaps another reservation, or covers an address some host holds now (the holders
 * are named: release or detach first). Each address gets a `reserved` event; audited.
 */
export async function createReservation(ctx: Ctx, input: ReservationInput): Promise<Reservation> {
  const first = toIp(input.first);
  const last = toIp(input.last ?? input.first);
  if (first.family !== last.family) throw new ApiError("BAD_INPUT", `${first.text} and ${last.text} are of different families: a range is IPv4 or IPv6`);
  if (compareIps(first, last) > 0) throw new ApiError("BAD_INPUT", `the range ${first.text}–${last.text} runs backwards: its first address is after its last`);
  const size = last.value - first.value + 1n;
  if (size > BigInt(RESERVATION_MAX_ADDRESSES)) {
    throw new ApiError("BAD_INPUT", `the range ${first.text}–${last.text} has ${size} addresses: a reservation holds at most ${RESERVATION_MAX_ADDRESSES}`);
  }
  const user = ctx.session!.user;
  return ctx.db.$transaction(async (tx) => {
    // One reservation change of a network at a time: the overlap checks below then hold.
    const network = (await tx.$queryRaw<{ id: string; name: string }[]>`SELECT id, name FROM "Network" WHERE id = ${input.networkId} FOR UPDATE`)[0];
    if (!network) throw new ApiError("NOT_FOUND", `network ${input.networkId} does not exist`);
    const inside = await tx.$queryRaw<{ ok: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM "NetworkSubnet" s WHERE s."networkId" = ${network.id}
        AND s.cidr >>= ${first.text}::inet AND s.cidr >>= ${last.text}::inet) AS ok`;
    if (!inside[0]?.ok) throw new ApiError("BAD_INPUT", `${first.text}–${last.text} is not inside one subnet of network "${network.name}"`);
    const clash = await tx.$queryRaw<Reservation[]>`${SELECT_RESERVATION}
      WHERE "networkId" = ${network.id} AND "firstAddress" <= ${last.text}::inet AND "lastAddress" >= ${first.text}::inet LIMIT 1`;
    if (clash[0]) {
      throw new ApiError("CONFLICT", `${first.text}–${last.text} overlaps the reservation ${clash[0].first}–${clash[0].last} ("${clash[0].note}") of network "${network.name}"`);
    }
    const held = await tx.$queryRaw<{ address: string; hostName: string; containerId: string; ifName: string }[]>`
      SELECT host(l.address) AS address, h.name AS "hostName", l."containerId", l."ifName"
      FROM "Lease" l JOIN "Host" h ON h.id = l."hostId"
      WHERE l."networkId" = ${network.id} AND l.address BETWEEN ${first.text}::inet AND ${last.text}::inet
        AND l."containerId" <> ${RESERVATION_CONTAINER_ID}
      ORDER BY l.address, h.name LIMIT ${NAMED_HOLDERS + 1}`;
    if (held.length > 0) {
      const named = held.slice(0, NAMED_HOLDERS).map((l) => `${l.address} by container ${l.containerId} (${l.ifName}) on host ${l.hostName}`);
      const more = held.length > NAMED_HOLDERS ? " and more" : "";
      throw new ApiError("CONFLICT", `${first.text}–${last.text} covers addresses held now: ${named.join(", ")}${more}. Release or detach them first.`);
    }
    const created = (
      await tx.$queryRaw<Reservation[]>`
        INSERT INTO "IpamReservation" (id, "networkId", "firstAddress", "lastAddress", note, "createdById", "createdByName", "createdAt")
        VALUES (gen_random_uuid()::text, ${network.id}, ${first.text}::inet, ${last.text}::inet, ${input.note}, ${user.id}, ${user.username}, now() AT TIME ZONE 'UTC')
        RETURNING ${RESERVATION_COLUMNS}`
    )[0]!;
    await recordReservationChange(tx, ctx, network, created, "reserved");
    return created;
  });
}

/** Ends a reservation (its events and audit entry written with it). */
export async function deleteReservation(ctx: Ctx, id: string): Promise<void> {
  await ctx.db.$transaction(async (tx) => {
    const gone = (await tx.$queryRaw<Reservation[]>`
      DELETE FROM "IpamReservation" WHERE id = ${id}
      RETURNING ${RESERVATION_COLUMNS}`)[0];
    if (!gone) throw new ApiError("NOT_FOUND", `reservation ${id} does not exist`);
    const network = await tx.network.findUniqueOrThrow({ where: { id: gone.networkId }, select: { id: true, name: true } });
    await recordReservationChange(tx, ctx, network, gone, "unreserved");
  });
}

/** A reservation made or ended: one event per address of its range (at most RESERVATION_MAX_ADDRESSES) and its audit entry. */
async function recordReservationChange(tx: DbTx, ctx: Ctx, network: { id: string; name: string }, r: Reservation, kind: "reserved" | "unreserved") {
  const actorName = ctx.session!.user.username;
  const networkName = network.name;
  const range = { first: r.first, last: r.last, note: r.note };
  await writeAudit(tx, ctx, {
    action: kind === "reserved" ? "ipam.reserve" : "ipam.unreserve",
    targetType: "network",
    targetId: network.id,
    targetName: network.name,
    ...(kind === "reserved" ? { after: range } : { before: range }),
    outcome: "success",
  });
  await tx.$executeRaw`
    INSERT INTO "LeaseEvent" (at, kind, "networkName", address, "actorName", detail)
    SELECT now() AT TIME ZONE 'UTC', ${kind}::"LeaseEventKind", ${networkName}, ${r.first}::inet + g.i, ${actorName},
      ${`${r.first}–${r.last}: ${r.note}`}
    FROM generate_series(0::bigint, (${r.last}::inet - ${r.first}::inet)) AS g(i)`;
}
