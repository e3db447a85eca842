import { type DbTx, Prisma } from "@switchyard/db";
import { cidrContains, firstUsable, lastAddress, lastUsable, parseCidr, parseIp } from "@switchyard/ipam";
import { ApiError } from "../errors";

/**
 * Virtual IPs: handed out from the service CIDRs, or given and checked (issue 12). A VIP is
 * nobody's address: not a host's (as its agent reported its interfaces), not an attachment's
 * (a lease any host reported), not another service's.
 */

export async function serviceCidrs(tx: DbTx, family?: 4 | 6): Promise<string[]> {
  const rows = await tx.serviceCidr.findMany({ where: family ? { family } : {}, orderBy: { cidr: "asc" }, select: { cidr: true } });
  return rows.map((r) => r.cidr);
}

/** Why `vip` cannot be a service's VIP now, or null. `exceptServiceId`: the service keeping its own. */
export async function vipProblem(tx: DbTx, vip: string, exceptServiceId?: string): Promise<string | null> {
  const parsed = parseIp(vip);
  if (!parsed.ok) return parsed.error.message;
  const cidrs = await serviceCidrs(tx, parsed.value.family);
  if (cidrs.length === 0) return `no IPv${parsed.value.family} service CIDR is set: an admin sets one under Services first`;
  const inside = cidrs.find((c) => cidrContains(c, vip));
  if (!inside) return `${vip} is outside the service CIDRs (${cidrs.join(", ")})`;
  const cidr = parseCidr(inside);
  if (cidr.ok && cidr.value.family === 4 && cidr.value.prefixLength < 31) {
    if (vip === cidr.value.network.text || vip === lastAddress(inside).text) return `${vip} is the network or broadcast address of ${inside}`;
  }
  const taken = await tx.service.findFirst({ where: { vip, ...(exceptServiceId ? { id: { not: exceptServiceId } } : {}) }, select: { name: true } });
  if (taken) return `${vip} is already the VIP of service "${taken.name}"`;
  const leased = await tx.$queryRaw<{ hostName: string; containerId: string; networkName: string }[]>`
    SELECT h.name AS "hostName", l."containerId", l."networkName" FROM "Lease" l JOIN "Host" h ON h.id = l."hostId"
    WHERE l.address = ${vip}::inet LIMIT 1`;
  if (leased[0]) return `${vip} is held by container ${leased[0].containerId} on network ${leased[0].networkName} (host ${leased[0].hostName})`;
  const hostAddress = await tx.$queryRaw<{ name: string }[]>`
    SELECT h.name FROM "Host" h, jsonb_array_elements(COALESCE(h.inventory->'addresses', '[]'::jsonb)) AS a
    WHERE split_part(a->>'address', '/', 1) = ${vip}::text LIMIT 1`;
  if (hostAddress[0]) return `${vip} is an address of host ${hostAddress[0].name}`;
  return null;
}

/** The lowest free address of the service CIDRs of `family` (network and broadcast skipped for IPv4). */
export async function allocateVip(tx: DbTx, family: 4 | 6): Promise<string> {
  const cidrs = await serviceCidrs(tx, family);
  if (cidrs.length === 0) throw new ApiError("BAD_INPUT", `No IPv${family} service CIDR is set: an admin sets one under Services, or give the service a VIP`);
  for (const cidr of cidrs) {
    const first = firstUsable(cidr).text;
    const last = lastUsable(cidr).text;
    // The lowest address above `first` that no service holds: the first gap in the sorted VIPs.
    const rows = await tx.$queryRaw<{ vip: string }[]>(Prisma.sql`
      WITH used AS (SELECT vip FROM "Service" WHERE vip <<= ${cidr}::inet),
      candidates AS (
        SELECT ${first}::inet AS a
        UNION ALL SELECT u.vip + 1 FROM used u WHERE u.vip + 1 <= ${last}::inet
      )
      SELECT host(c.a) AS vip FROM candidates c
      WHERE c.a >= ${first}::inet AND c.a <= ${last}::inet AND NOT EXISTS (SELECT 1 FROM used u WHERE u.vip = c.a)
        AND NOT EXISTS (SELECT 1 FROM "Lease" l WHERE l.address = c.a)
      ORDER BY c.a LIMIT 1`);
    if (rows[0]) return rows[0].vip;
  }
  throw new ApiError("CONFLICT", `The IPv${family} service CIDRs (${cidrs.join(", ")}) have no free address left`);
}
