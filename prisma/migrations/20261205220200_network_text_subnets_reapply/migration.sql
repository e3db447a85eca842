-- Issue 10, items 2, 4, 12 (networks).
-- 1. NetworkRevision.text: the config as the user wrote it (jsonb reorders keys).
--    Existing revisions lost their order when they were stored, so they are backfilled with
--    the console's Format layout: 2-space JSON, well-known keys first (cniVersion, cniVersions,
--    name, disableCheck, disableGC, type, subnet, rangeStart, rangeEnd, gateway), the other keys
--    in code-point order, then ipam, dns and plugins last. formatConflist in packages/cni does
--    the same for the editor's Format action.
-- 2. NetworkSubnet: the latest revision's subnets, GiST-indexed, backfilled from the conflists.
-- 3. OperationKind reapply and Operation.toRevision: apply the latest revision to an attachment.
-- No semicolons in these comments: Prisma's pg adapter splits a migration script on them.

-- AlterEnum
ALTER TYPE "OperationKind" ADD VALUE 'reapply';

-- AlterTable
ALTER TABLE "Operation" ADD COLUMN "toRevision" INTEGER;

-- AlterTable
ALTER TABLE "NetworkRevision" ADD COLUMN "text" TEXT;

-- The formatter calls itself: its body cannot be checked before it exists.
SET check_function_bodies = false;

CREATE FUNCTION "switchyard_format_json"(v jsonb, ind text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN jsonb_typeof(v) = 'object' AND v <> '{}'::jsonb THEN
      '{' || chr(10) || (
        SELECT string_agg(ind || '  ' || to_jsonb(e.key)::text || ': ' || "switchyard_format_json"(e.value, ind || '  '), ',' || chr(10)
                          ORDER BY CASE e.key WHEN 'cniVersion' THEN 0 WHEN 'cniVersions' THEN 1 WHEN 'name' THEN 2 WHEN 'disableCheck' THEN 3
                                              WHEN 'disableGC' THEN 4 WHEN 'type' THEN 5 WHEN 'subnet' THEN 6 WHEN 'rangeStart' THEN 7
                                              WHEN 'rangeEnd' THEN 8 WHEN 'gateway' THEN 9 WHEN 'ipam' THEN 90 WHEN 'dns' THEN 91
                                              WHEN 'plugins' THEN 99 ELSE 50 END,
                                   e.key COLLATE "C")
        FROM jsonb_each(v) AS e
      ) || chr(10) || ind || '}'
    WHEN jsonb_typeof(v) = 'array' AND v <> '[]'::jsonb THEN
      '[' || chr(10) || (
        SELECT string_agg(ind || '  ' || "switchyard_format_json"(a.value, ind || '  '), ',' || chr(10) ORDER BY a.n)
        FROM jsonb_array_elements(v) WITH ORDINALITY AS a(value, n)
      ) || chr(10) || ind || ']'
    ELSE v::text
  END
$$;

UPDATE "NetworkRevision" SET "text" = "switchyard_format_json"("conflist", '') || chr(10);

DROP FUNCTION "switchyard_format_json"(jsonb, text);

RESET check_function_bodies;

ALTER TABLE "NetworkRevision" ALTER COLUMN "text" SET NOT NULL;

-- CreateTable
CREATE TABLE "NetworkSubnet" (
    "id" SERIAL NOT NULL,
    "networkId" TEXT NOT NULL,
    "cidr" INET NOT NULL,

    CONSTRAINT "NetworkSubnet_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "NetworkSubnet_networkId_idx" ON "NetworkSubnet"("networkId");

-- CreateIndex
CREATE INDEX "NetworkSubnet_cidr_idx" ON "NetworkSubnet" USING GIST ("cidr" inet_ops);

-- AddForeignKey
ALTER TABLE "NetworkSubnet" ADD CONSTRAINT "NetworkSubnet_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Backfill: the subnets of each network's latest revision, as the console collects them.
INSERT INTO "NetworkSubnet" ("networkId", "cidr")
SELECT DISTINCT n.id, network((s.v #>> '{}')::inet)::inet
FROM "Network" n
JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"
CROSS JOIN LATERAL (
  SELECT jsonb_path_query(r.conflist, '$.plugins[*].ipam ? (@.type == "host-local").subnet') AS v
  UNION ALL SELECT jsonb_path_query(r.conflist, '$.plugins[*].ipam ? (@.type == "host-local").ranges[*][*].subnet')
  UNION ALL SELECT jsonb_path_query(r.conflist, '$.plugins[*].ipam ? (@.type == "static").addresses[*].address')
) AS s
WHERE jsonb_typeof(s.v) = 'string';
