import { Prisma, type Db, type DbTx } from "@switchyard/db";
import type { IpamReport, IpamReportNetwork, ReportedLease } from "../schemas/ipamReport";

export { SEEN_IN, type ReportedLease } from "../schemas/ipamReport";

/**
 * What a host reported for one network: its leases (`replace`, within `span` when the report came
 * in parts; all of them without one) or what changed since its last report (`change`).
 */
export type NetworkLeaseReport = Omit<IpamReportNetwork, "span"> & { span?: { from: string | null; to: string | null } } & (
    | { mode: "replace"; leases: ReportedLease[] }
    | { mode: "change"; upserted: ReportedLease[]; removed: string[] }
  );

export interface IngestOutcome {
  networkName: string;
  allocated: number;
  released: number;
  /** Rows written (inserted or changed) in Lease. */
  written: number;
}

/**
 * Applies one host's report of one network in one statement: the leases it no longer holds are
 * deleted, new and changed ones are upserted (an unchanged lease is not rewritten, so a
 * 50,000-lease snapshot that changed nothing writes nothing but the network's report row), each
 * change of holder becomes events in the address's history (released for the holder that left,
 * allocated for the one that came), and each lease is matched to the console's attachment by
 * (host, network, container id, interface).
 */
export async function ingestNetworkLeases(
  db: Db | DbTx,
  host: { id: string; name: string },
  report: NetworkLeaseReport,
): Promise<IngestOutcome> {
  const rows = await db.$queryRaw<{ allocated: number; released: number; written: number }[]>(ingestStatement(host, report));
  const row = rows[0] ?? { allocated: 0, released: 0, written: 0 };
  return { networkName: report.networkName, ...row };
}

/** The one statement of ingestNetworkLeases (bench/ipam.ts EXPLAINs it). */
export function ingestStatement(host: { id: string; name: string }, report: NetworkLeaseReport): Prisma.Sql {
  const replace = report.mode === "replace";
  const from = report.mode === "replace" ? (report.span?.from ?? null) : null;
  const to = report.mode === "replace" ? (report.span?.to ?? null) : null;
  const incoming = JSON.stringify(replace ? report.leases : report.upserted);
  // A full report's part is matched to the host's attachments in one join; a change report's few
  // leases each through the attachment's unique index (a join hashed all of the host's attachments
  // on the network, 25,000 in bench/ipam.ts, for one changed lease: LIMIT 1 keeps the planner from
  // turning the lateral lookup into that join). The same for the leases the report changes.
  const matchAttachments = replace
    ? Prisma.sql`
      SELECT i.*, a.id AS "attachmentId", (a.id IS NOT NULL AND a.state <> 'detached') AS held
      FROM incoming i
      LEFT JOIN "Attachment" a ON a."hostId" = ${host.id}::text AND a."networkName" = ${report.networkName}::text
        AND a."containerId" = i."containerId" AND a."ifName" = i."ifName"`
    : Prisma.sql`
      SELECT i.*, a.id AS "attachmentId", (a.id IS NOT NULL AND a.state <> 'detached') AS held
      FROM incoming i
      LEFT JOIN LATERAL (SELECT a.id, a.state FROM "Attachment" a WHERE a."hostId" = ${host.id}::text AND a."networkName" = ${report.networkName}::text
        AND a."containerId" = i."containerId" AND a."ifName" = i."ifName" LIMIT 1) AS a ON true`;
  const existingLeases = replace
    ? Prisma.sql`SELECT l.* FROM "Lease" l WHERE l."hostId" = ${host.id}::text AND l."networkName" = ${report.networkName}::text`
    : Prisma.sql`
      SELECT l.* FROM incoming i
      CROSS JOIN LATERAL (SELECT l.* FROM "Lease" l WHERE l."hostId" = ${host.id}::text AND l."networkName" = ${report.networkName}::text
        AND l.address = i.address LIMIT 1) AS l`;
  // A full report's part deletes what is missing in its span; a change report only the addresses
  // it names, found through the unique index (not a scan of the host's 50,000 leases per change).
  const goneWhere = replace
    ? Prisma.sql`(${from}::inet IS NULL OR l.address >= ${from}::inet) AND (${to}::inet IS NULL OR l.address <= ${to}::inet)`
    : Prisma.sql`l.address IN (SELECT a::inet FROM jsonb_array_elements_text(${JSON.stringify(report.removed)}::jsonb) AS a)`;
  return Prisma.sql`
    WITH incoming AS (
      SELECT DISTINCT ON (t.address) t.address, t."containerId", t."ifName", t."seenIn", COALESCE(t.netns, '') AS netns, t."netnsAlive"
      FROM jsonb_to_recordset(${incoming}::jsonb) AS t(address inet, "containerId" text, "ifName" text, "seenIn" int, netns text, "netnsAlive" boolean)
      ORDER BY t.address
    ),
    net AS (SELECT (SELECT id FROM "Network" WHERE name = ${report.networkName}::text) AS id),
    matched AS (${matchAttachments}),
    existing AS (${existingLeases}),
    gone AS (
      DELETE FROM "Lease" l
      WHERE l."hostId" = ${host.id}::text AND l."networkName" = ${report.networkName}::text
        -- NOT IN, not NOT EXISTS: a hashed subplan whatever the estimates. NOT EXISTS becomes an
        -- anti join, which PostgreSQL planned as a nested loop (incoming is estimated at 100 rows,
        -- the host's leases at 1 before an ANALYZE): 50,000 × 50,000 comparisons.
        AND l.address NOT IN (SELECT i.address FROM incoming i) AND ${goneWhere}
      RETURNING l.*
    ),
    diff AS (
      SELECT m.*, e.address IS NOT NULL AS "existed", e."containerId" AS "oldContainerId", e."ifName" AS "oldIfName",
        e."attachmentId" AS "oldAttachmentId",
        (e.address IS NOT NULL AND (e."containerId" <> m."containerId" OR e."ifName" <> m."ifName")) AS "holderChanged",
        (e.address IS NULL OR e."containerId" <> m."containerId" OR e."ifName" <> m."ifName" OR e."seenIn" <> m."seenIn"
          OR e.netns <> m.netns OR e."netnsAlive" IS DISTINCT FROM m."netnsAlive"
          OR e."attachmentId" IS DISTINCT FROM m."attachmentId" OR e.held <> m.held OR e."networkId" IS DISTINCT FROM (SELECT id FROM net)) AS "differs"
      FROM matched m LEFT JOIN existing e ON e.address = m.address
    ),
    -- New leases in a plain insert, changed ones through the upsert: INSERT ... ON CONFLICT DO
    -- UPDATE cost three times a plain insert per new row on PGlite (measured), and a snapshot is
    -- mostly new rows. The upsert finds each changed row by the key (an UPDATE ... FROM was
    -- planned as a scan of the host's 50,000 leases for one change on PGlite, which has no
    -- statistics). DO NOTHING only for a row another report of this host wrote in between.
    inserted AS (
      INSERT INTO "Lease" ("hostId", "networkName", "networkId", address, "containerId", "ifName", "attachmentId", held, "seenIn", netns, "netnsAlive", since, "updatedAt")
      SELECT ${host.id}::text, ${report.networkName}::text, (SELECT id FROM net), d.address, d."containerId", d."ifName",
        d."attachmentId", d.held, d."seenIn", d.netns, d."netnsAlive", now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM diff d WHERE NOT d.existed
      ON CONFLICT ("hostId", "networkName", address) DO NOTHING
      RETURNING 1
    ),
    updated AS (
      INSERT INTO "Lease" ("hostId", "networkName", "networkId", address, "containerId", "ifName", "attachmentId", held, "seenIn", netns, "netnsAlive", since, "updatedAt")
      SELECT ${host.id}::text, ${report.networkName}::text, (SELECT id FROM net), d.address, d."containerId", d."ifName",
        d."attachmentId", d.held, d."seenIn", d.netns, d."netnsAlive", now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM diff d WHERE d.existed AND d.differs
      ON CONFLICT ("hostId", "networkName", address) DO UPDATE SET
        "networkId" = EXCLUDED."networkId",
        "containerId" = EXCLUDED."containerId",
        "ifName" = EXCLUDED."ifName",
        "attachmentId" = EXCLUDED."attachmentId",
        held = EXCLUDED.held,
        "seenIn" = EXCLUDED."seenIn",
        netns = EXCLUDED.netns,
        "netnsAlive" = EXCLUDED."netnsAlive",
        since = CASE WHEN "Lease"."containerId" <> EXCLUDED."containerId" OR "Lease"."ifName" <> EXCLUDED."ifName"
          THEN EXCLUDED.since ELSE "Lease".since END,
        "updatedAt" = EXCLUDED."updatedAt"
      RETURNING 1
    ),
    history AS (
      INSERT INTO "LeaseEvent" (at, kind, "networkName", address, "hostId", "hostName", "containerId", "ifName", "attachmentId")
      SELECT now() AT TIME ZONE 'UTC', ev.kind::"LeaseEventKind", ${report.networkName}::text, ev.address, ${host.id}::text,
        ${host.name}::text, ev."containerId", ev."ifName", ev."attachmentId"
      FROM (
        SELECT 0 AS ord, 'released' AS kind, g.address, g."containerId", g."ifName", g."attachmentId" FROM gone g
        UNION ALL
        SELECT 0, 'released', d.address, d."oldContainerId", d."oldIfName", d."oldAttachmentId" FROM diff d WHERE d."holderChanged"
        UNION ALL
        SELECT 1, 'allocated', d.address, d."containerId", d."ifName", d."attachmentId" FROM diff d WHERE NOT d.existed OR d."holderChanged"
      ) AS ev
      ORDER BY ev.ord, ev.address
      RETURNING kind
    ),
    reported AS (
      INSERT INTO "HostIpamNetwork" ("hostId", "networkName", "dataDir", digest, "leaseCount", findings, "reportedAt")
      VALUES (${host.id}::text, ${report.networkName}::text, ${report.dataDir}::text, ${report.digest}::text,
        ${report.leaseCount}::int, ${JSON.stringify(report.findings)}::jsonb, now() AT TIME ZONE 'UTC')
      ON CONFLICT ("hostId", "networkName") DO UPDATE SET
        "dataDir" = EXCLUDED."dataDir", digest = EXCLUDED.digest, "leaseCount" = EXCLUDED."leaseCount",
        findings = EXCLUDED.findings, "reportedAt" = EXCLUDED."reportedAt"
      RETURNING 1
    )
    SELECT
      (SELECT count(*) FROM history WHERE kind = 'allocated')::int AS allocated,
      (SELECT count(*) FROM history WHERE kind = 'released')::int AS released,
      (SELECT count(*) FROM inserted)::int + (SELECT count(*) FROM updated)::int + (SELECT count(*) FROM reported)::int * 0 AS written`;
}

/**
 * The networks a host reported before and left out of a full snapshot: its IPAM no longer has
 * them (the data dir is gone), so their leases are released. Returns how many were released.
 */
export async function forgetUnreportedNetworks(db: Db | DbTx, host: { id: string; name: string }, reported: string[]): Promise<{ released: number; networkNames: string[] }> {
  const names = JSON.stringify(reported);
  const rows = await db.$queryRaw<{ released: number; networkNames: string[] }[]>(Prisma.sql`
    WITH keep AS (SELECT jsonb_array_elements_text(${names}::jsonb) AS name),
    gone AS (
      DELETE FROM "Lease" l WHERE l."hostId" = ${host.id}::text AND l."networkName" NOT IN (SELECT name FROM keep)
      RETURNING l.*
    ),
    dropped AS (
      DELETE FROM "HostIpamNetwork" h WHERE h."hostId" = ${host.id}::text AND h."networkName" NOT IN (SELECT name FROM keep)
      RETURNING 1
    ),
    history AS (
      INSERT INTO "LeaseEvent" (at, kind, "networkName", address, "hostId", "hostName", "containerId", "ifName", "attachmentId", detail)
      SELECT now() AT TIME ZONE 'UTC', 'released', g."networkName", g.address, ${host.id}::text, ${host.name}::text,
        g."containerId", g."ifName", g."attachmentId", 'the host no longer reports this network'
      FROM gone g
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM history)::int + (SELECT count(*) FROM dropped)::int * 0 AS released,
      (SELECT COALESCE(jsonb_agg(DISTINCT g."networkName"), '[]'::jsonb) FROM gone g) AS "networkNames"`);
  return { released: rows[0]?.released ?? 0, networkNames: rows[0]?.networkNames ?? [] };
}

/**
 * One request of an agent's IPAM report: each network's part in its own statement (each is
 * atomic and idempotent on its own), then, with the last request of a full report, the networks
 * the host no longer has.
 */
export async function ingestIpamReport(db: Db, host: { id: string; name: string }, report: IpamReport): Promise<{ networks: IngestOutcome[]; forgotten: number; forgottenNetworks: string[] }> {
  const networks: IngestOutcome[] = [];
  for (const network of report.networks) networks.push(await ingestNetworkLeases(db, host, network));
  const forgotten = report.allNetworks ? await forgetUnreportedNetworks(db, host, report.allNetworks) : { released: 0, networkNames: [] };
  return { networks, forgotten: forgotten.released, forgottenNetworks: forgotten.networkNames };
}
