-- Issue 11's benchmarks: the summary's use over the last week summed every LeaseEvent of the
-- week, and a host's 50,000-lease snapshot is 50,000 events (a turnover 100,000 more). The net
-- change per network and hour is kept here instead, by a statement trigger on LeaseEvent, so every
-- writer of events (the ingest, reservations, leaks) keeps it without knowing of it. Caller:
-- readIpamSummary in packages/api/src/domain/ipamSummary.ts.
-- The function's body is a U& string, its semicolons written \003B and its quotes doubled: the
-- stock Prisma CLI on PostgreSQL (adapter-pg) splits a migration at every semicolon.
-- CreateTable
CREATE TABLE "LeaseUsageHour" (
    "networkName" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "delta" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "LeaseUsageHour_pkey" PRIMARY KEY ("networkName","hour")
);

-- Adds the events a statement inserted (new_events) to their network's hours, as the summary counts them.
CREATE FUNCTION "switchyard_lease_usage"() RETURNS trigger
LANGUAGE plpgsql
AS U&'
BEGIN
  INSERT INTO "LeaseUsageHour" ("networkName", hour, delta)
  SELECT e."networkName", date_trunc(''hour'', e.at), sum(CASE e.kind WHEN ''allocated'' THEN 1 ELSE -1 END)::int
  FROM new_events e
  WHERE e.kind IN (''allocated'', ''released'', ''reclaimed'') AND e."containerId" <> ''switchyard-reservation''
  GROUP BY 1, 2
  ON CONFLICT ("networkName", hour) DO UPDATE SET delta = "LeaseUsageHour".delta + EXCLUDED.delta\003B
  RETURN NULL\003B
END';

CREATE TRIGGER "LeaseEvent_usage" AFTER INSERT ON "LeaseEvent"
REFERENCING NEW TABLE AS new_events
FOR EACH STATEMENT EXECUTE FUNCTION "switchyard_lease_usage"();

-- The events written before this migration.
INSERT INTO "LeaseUsageHour" ("networkName", hour, delta)
SELECT e."networkName", date_trunc('hour', e.at), sum(CASE e.kind WHEN 'allocated' THEN 1 ELSE -1 END)::int
FROM "LeaseEvent" e
WHERE e.kind IN ('allocated', 'released', 'reclaimed') AND e."containerId" <> 'switchyard-reservation'
GROUP BY 1, 2;
