-- Issue 10 item 12: the lists' substring search through trigram indexes, and the per-page
-- attachment counts of hosts and networks through indexes.
-- pg_trgm is a contrib extension: in Debian's postgresql package, and loaded by every PGlite the
-- console opens (packages/db/src/pglite.ts). CREATE EXTENSION needs the CREATE privilege on the
-- database (pg_trgm is a trusted extension). Where the migration user lacks it, an administrator
-- runs CREATE EXTENSION pg_trgm once, then this migration applies.
-- Each index is on the text a list searches, its columns joined by a space: the search asks the
-- index for candidates and checks each column exactly (a match across two columns is no match).
-- fastupdate off: with GIN's pending list every search read every row inserted since the last
-- VACUUM (which PGlite never runs) and the planner, pricing that, read the table instead -- measured
-- at 20,000 attachments a lookup took 36 ms with it and 0.4 ms without.
-- Prisma cannot describe expression indexes and leaves them alone.
-- No semicolons in these comments: Prisma's pg adapter splits a migration script on them.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Networks: the name and the latest revision's text (the name read from the parsed config, the
-- same as the network's name at every save).
CREATE INDEX "NetworkRevision_search_trgm_idx" ON "NetworkRevision" USING GIN ((COALESCE("conflist" ->> 'name', '') || ' ' || "text") gin_trgm_ops) WITH (fastupdate = off);

-- Attachments: container id, target, interface and network name (host names are matched on Host).
CREATE INDEX "Attachment_search_trgm_idx" ON "Attachment" USING GIN (("containerId" || ' ' || "target" || ' ' || "ifName" || ' ' || "networkName") gin_trgm_ops) WITH (fastupdate = off);

-- Hosts: name and agent version.
CREATE INDEX "Host_search_trgm_idx" ON "Host" USING GIN (("name" || ' ' || "agentVersion") gin_trgm_ops) WITH (fastupdate = off);

-- Audit: target name, target id (matched exactly) and actor.
CREATE INDEX "AuditEvent_search_trgm_idx" ON "AuditEvent" USING GIN (("targetName" || ' ' || "targetId" || ' ' || "actorName") gin_trgm_ops) WITH (fastupdate = off);

-- Attachments sorted by update time, and by state (lifecycle order), page by keyset on these.
CREATE INDEX "Attachment_updatedAt_id_idx" ON "Attachment"("updatedAt", "id");

CREATE INDEX "Attachment_state_id_idx" ON "Attachment"("state", "id");

-- The hosts list counts each of its hosts' present attachments: from this index alone.
CREATE INDEX "Attachment_hostId_present_idx" ON "Attachment"("hostId", "present");
