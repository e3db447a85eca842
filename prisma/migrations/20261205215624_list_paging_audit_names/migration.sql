-- Lists page by keyset (sort column, id), and the audit log keeps each target's name as it was
-- when the event was written, so an event about a deleted or renamed target still reads.
-- No semicolons in these comments: Prisma's pg adapter splits a migration script on them.

-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN "targetName" TEXT NOT NULL DEFAULT '';

-- Backfill: the live name where the target still exists, else the name the event carries.
UPDATE "AuditEvent" e SET "targetName" = COALESCE(
  CASE e."targetType"
    WHEN 'network' THEN (SELECT n.name FROM "Network" n WHERE n.id = e."targetId")
    WHEN 'host' THEN (SELECT h.name FROM "Host" h WHERE h.id = e."targetId")
    WHEN 'user' THEN (SELECT u.username FROM "User" u WHERE u.id = e."targetId")
    WHEN 'attachment' THEN (SELECT a."containerId" || '/' || a."ifName" || ' on ' || a."networkName" FROM "Attachment" a WHERE a.id = e."targetId")
  END,
  e.after ->> 'name', e.before ->> 'name', e.after ->> 'username', e.before ->> 'username', '');

-- CreateIndex
CREATE INDEX "Network_updatedAt_id_idx" ON "Network"("updatedAt", "id");

-- CreateIndex
CREATE INDEX "Network_createdAt_id_idx" ON "Network"("createdAt", "id");

-- CreateIndex
CREATE INDEX "Attachment_createdAt_id_idx" ON "Attachment"("createdAt", "id");

-- CreateIndex
CREATE INDEX "Attachment_containerId_id_idx" ON "Attachment"("containerId", "id");

-- CreateIndex
CREATE INDEX "Attachment_networkName_id_idx" ON "Attachment"("networkName", "id");

-- CreateIndex
CREATE INDEX "Attachment_state_updatedAt_idx" ON "Attachment"("state", "updatedAt");
