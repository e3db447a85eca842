-- Issue 11 item 4: where each lease's holder lives (the namespace the result cache names) and whether it
-- still exists, the evidence a leak is flagged on.
-- No semicolons in these comments: Prisma's pg adapter splits a migration script on them.
-- AlterTable
ALTER TABLE "Lease" ADD COLUMN     "netns" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "netnsAlive" BOOLEAN;

