-- attachments.create writes the attachment, its operation and the audit event in one SQL
-- statement, so the ids it needs come from the database (gen_random_uuid: PostgreSQL 13+, PGlite).
-- Existing rows keep their cuid ids: an id is an opaque string everywhere.
-- No semicolons in these comments: Prisma's pg adapter splits a migration script on them.
-- AlterTable
ALTER TABLE "Attachment" ALTER COLUMN "id" SET DEFAULT (gen_random_uuid())::text;

-- AlterTable
ALTER TABLE "Operation" ALTER COLUMN "id" SET DEFAULT (gen_random_uuid())::text;

