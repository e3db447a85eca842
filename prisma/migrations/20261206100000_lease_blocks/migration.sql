-- Issue 11's benchmarks, the ingest of a 50,000-lease snapshot and the map's heatmap and summary.
-- No semicolons in these comments: Prisma's pg adapter splits a migration script on them. The
-- functions' bodies are U& strings, their semicolons written \003B and their quotes doubled (the
-- stock Prisma CLI on PostgreSQL splits a migration at every semicolon).
--
-- 1. The insert of a lease was mostly work for others: measured on PGlite, the three foreign-key
-- checks (hostId, networkId, attachmentId) were near half of it, the surrogate id with its
-- sequence and index and the (networkName, address) index a fifth. A lease is named by (host,
-- network name, address): that is its primary key now. Its foreign keys go, and what they did on
-- delete is done by triggers on the parent tables below: a deleted host's leases are deleted, a
-- deleted network or attachment is set null in the leases that name it (and the lease is no longer
-- held). The ingest writes the host that reports and the network and attachment it has just
-- looked up. Hosts are never deleted by the console (they are revoked), a network only with no
-- attachment left that is not detached, an attachment only once detached: a lease written while
-- its network or attachment is deleted at the same moment names what is gone, holds nothing
-- (held is false) and is matched again by the next full report.
-- The (networkName, address) index goes: conflicts look addresses up by address, and the
-- summary's count per network name reads LeaseBlock.
ALTER TABLE "Lease" DROP CONSTRAINT "Lease_pkey";
ALTER TABLE "Lease" DROP COLUMN "id";
DROP INDEX "Lease_hostId_networkName_address_key";
ALTER TABLE "Lease" ADD CONSTRAINT "Lease_pkey" PRIMARY KEY ("hostId", "networkName", "address");
DROP INDEX "Lease_networkName_address_idx";
ALTER TABLE "Lease" DROP CONSTRAINT "Lease_hostId_fkey";
ALTER TABLE "Lease" DROP CONSTRAINT "Lease_networkId_fkey";
ALTER TABLE "Lease" DROP CONSTRAINT "Lease_attachmentId_fkey";

-- 2. Whether a console attachment that is not detached holds the lease, kept on the lease so the
-- heatmap and the summary need no join with Attachment per lease. The ingest sets it when it
-- matches the attachment, the triggers below when the attachment's state crosses "detached" and
-- when it is deleted. A lease is live (judgeLease in ipamLeaks.ts) when its namespace is not gone
-- and it is held or its namespace lives.
ALTER TABLE "Lease" ADD COLUMN "held" BOOLEAN NOT NULL DEFAULT false;
UPDATE "Lease" l SET held = true FROM "Attachment" a WHERE a.id = l."attachmentId" AND a.state <> 'detached';

CREATE FUNCTION "switchyard_lease_attachment_state"() RETURNS trigger
LANGUAGE plpgsql
AS U&'
BEGIN
  UPDATE "Lease" SET held = (NEW.state <> ''detached'') WHERE "attachmentId" = NEW.id AND held <> (NEW.state <> ''detached'')\003B
  RETURN NULL\003B
END';

CREATE TRIGGER "Attachment_lease_held" AFTER UPDATE OF state ON "Attachment"
FOR EACH ROW WHEN ((OLD.state = 'detached') IS DISTINCT FROM (NEW.state = 'detached'))
EXECUTE FUNCTION "switchyard_lease_attachment_state"();

CREATE FUNCTION "switchyard_lease_attachment_gone"() RETURNS trigger
LANGUAGE plpgsql
AS U&'
BEGIN
  UPDATE "Lease" SET "attachmentId" = NULL, held = false WHERE "attachmentId" = OLD.id\003B
  RETURN NULL\003B
END';

CREATE TRIGGER "Attachment_lease_gone" AFTER DELETE ON "Attachment"
FOR EACH ROW EXECUTE FUNCTION "switchyard_lease_attachment_gone"();

CREATE FUNCTION "switchyard_lease_host_gone"() RETURNS trigger
LANGUAGE plpgsql
AS U&'
BEGIN
  DELETE FROM "Lease" WHERE "hostId" = OLD.id\003B
  RETURN NULL\003B
END';

CREATE TRIGGER "Host_lease_gone" AFTER DELETE ON "Host"
FOR EACH ROW EXECUTE FUNCTION "switchyard_lease_host_gone"();

CREATE FUNCTION "switchyard_lease_network_gone"() RETURNS trigger
LANGUAGE plpgsql
AS U&'
BEGIN
  UPDATE "Lease" SET "networkId" = NULL WHERE "networkId" = OLD.id\003B
  RETURN NULL\003B
END';

CREATE TRIGGER "Network_lease_gone" AFTER DELETE ON "Network"
FOR EACH ROW EXECUTE FUNCTION "switchyard_lease_network_gone"();

-- 3. Each 256-address block's leases and live leases per network and host (the /24 of an IPv4
-- address, the /120 of an IPv6 one), reservation files left out, kept by statement triggers on
-- Lease for every writer of leases. The heatmap reads its blocks and the summary its subnets here
-- instead of 50,000 leases. networkId is '' for leases of no console network. A block whose last
-- lease goes is deleted.
CREATE TABLE "LeaseBlock" (
    "networkId" TEXT NOT NULL,
    "block" INET NOT NULL,
    "hostId" TEXT NOT NULL,
    "networkName" TEXT NOT NULL,
    "leased" INTEGER NOT NULL DEFAULT 0,
    "live" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "LeaseBlock_pkey" PRIMARY KEY ("networkId", "block", "hostId", "networkName")
);

CREATE INDEX "LeaseBlock_networkName_idx" ON "LeaseBlock"("networkName");

CREATE FUNCTION "switchyard_lease_blocks"() RETURNS trigger
LANGUAGE plpgsql
AS U&'
BEGIN
  IF TG_OP = ''INSERT'' THEN
    INSERT INTO "LeaseBlock" ("networkId", block, "hostId", "networkName", leased, live)
    SELECT COALESCE(l."networkId", ''''), network(set_masklen(l.address, CASE family(l.address) WHEN 4 THEN 24 ELSE 120 END)),
      l."hostId", l."networkName", count(*), count(*) FILTER (WHERE l."netnsAlive" IS NOT FALSE AND (l.held OR l."netnsAlive" IS TRUE))
    FROM new_leases l WHERE l."containerId" <> ''switchyard-reservation''
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT ("networkId", block, "hostId", "networkName") DO UPDATE SET
      leased = "LeaseBlock".leased + EXCLUDED.leased, live = "LeaseBlock".live + EXCLUDED.live\003B
    RETURN NULL\003B
  END IF\003B
  IF NOT EXISTS (SELECT 1 FROM old_leases) THEN
    RETURN NULL\003B
  END IF\003B
  IF TG_OP = ''UPDATE'' THEN
    INSERT INTO "LeaseBlock" ("networkId", block, "hostId", "networkName", leased, live)
    SELECT c."networkId", c.block, c."hostId", c."networkName", sum(c.n), sum(c.live)
    FROM (
      SELECT COALESCE(l."networkId", '''') AS "networkId", network(set_masklen(l.address, CASE family(l.address) WHEN 4 THEN 24 ELSE 120 END)) AS block,
        l."hostId", l."networkName", 1 AS n, (l."netnsAlive" IS NOT FALSE AND (l.held OR l."netnsAlive" IS TRUE))::int AS live
      FROM new_leases l WHERE l."containerId" <> ''switchyard-reservation''
      UNION ALL
      SELECT COALESCE(l."networkId", ''''), network(set_masklen(l.address, CASE family(l.address) WHEN 4 THEN 24 ELSE 120 END)),
        l."hostId", l."networkName", -1, -(l."netnsAlive" IS NOT FALSE AND (l.held OR l."netnsAlive" IS TRUE))::int
      FROM old_leases l WHERE l."containerId" <> ''switchyard-reservation''
    ) AS c
    GROUP BY 1, 2, 3, 4 HAVING sum(c.n) <> 0 OR sum(c.live) <> 0 ORDER BY 1, 2, 3, 4
    ON CONFLICT ("networkId", block, "hostId", "networkName") DO UPDATE SET
      leased = "LeaseBlock".leased + EXCLUDED.leased, live = "LeaseBlock".live + EXCLUDED.live\003B
  ELSE
    INSERT INTO "LeaseBlock" ("networkId", block, "hostId", "networkName", leased, live)
    SELECT COALESCE(l."networkId", ''''), network(set_masklen(l.address, CASE family(l.address) WHEN 4 THEN 24 ELSE 120 END)),
      l."hostId", l."networkName", -count(*), -count(*) FILTER (WHERE l."netnsAlive" IS NOT FALSE AND (l.held OR l."netnsAlive" IS TRUE))
    FROM old_leases l WHERE l."containerId" <> ''switchyard-reservation''
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT ("networkId", block, "hostId", "networkName") DO UPDATE SET
      leased = "LeaseBlock".leased + EXCLUDED.leased, live = "LeaseBlock".live + EXCLUDED.live\003B
  END IF\003B
  DELETE FROM "LeaseBlock" b WHERE b.leased <= 0 AND b."networkName" IN (SELECT DISTINCT o."networkName" FROM old_leases o)\003B
  RETURN NULL\003B
END';

CREATE TRIGGER "Lease_blocks_insert" AFTER INSERT ON "Lease"
REFERENCING NEW TABLE AS new_leases
FOR EACH STATEMENT EXECUTE FUNCTION "switchyard_lease_blocks"();

CREATE TRIGGER "Lease_blocks_update" AFTER UPDATE ON "Lease"
REFERENCING OLD TABLE AS old_leases NEW TABLE AS new_leases
FOR EACH STATEMENT EXECUTE FUNCTION "switchyard_lease_blocks"();

CREATE TRIGGER "Lease_blocks_delete" AFTER DELETE ON "Lease"
REFERENCING OLD TABLE AS old_leases
FOR EACH STATEMENT EXECUTE FUNCTION "switchyard_lease_blocks"();

-- The leases there before this migration.
INSERT INTO "LeaseBlock" ("networkId", block, "hostId", "networkName", leased, live)
SELECT COALESCE(l."networkId", ''), network(set_masklen(l.address, CASE family(l.address) WHEN 4 THEN 24 ELSE 120 END)),
  l."hostId", l."networkName", count(*), count(*) FILTER (WHERE l."netnsAlive" IS NOT FALSE AND (l.held OR l."netnsAlive" IS TRUE))
FROM "Lease" l WHERE l."containerId" <> 'switchyard-reservation'
GROUP BY 1, 2, 3, 4;
