-- attachments.create writes the attachment, its operation and the audit event in one SQL
-- statement; the ids it needs come from the database (PostgreSQL 13+ and PGlite have gen_random_uuid).
-- Existing rows keep their cuid ids: an id is an opaque string everywhere.
-- AlterTable
ALTER TABLE "Attachment" ALTER COLUMN "id" SET DEFAULT (gen_random_uuid())::text;

-- AlterTable
ALTER TABLE "Operation" ALTER COLUMN "id" SET DEFAULT (gen_random_uuid())::text;

