-- Issue 11 item 4: releases of leaked addresses, carried out by the host's agent
-- CreateEnum
CREATE TYPE "IpamReleaseStatus" AS ENUM ('queued', 'running', 'succeeded', 'failed');

-- CreateTable
CREATE TABLE "IpamRelease" (
    "id" TEXT NOT NULL DEFAULT (gen_random_uuid())::text,
    "networkId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "networkName" TEXT NOT NULL,
    "items" JSONB NOT NULL,
    "status" "IpamReleaseStatus" NOT NULL DEFAULT 'queued',
    "outcome" JSONB,
    "error" TEXT NOT NULL DEFAULT '',
    "requestedById" TEXT,
    "requestedByName" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "claimedUntil" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "IpamRelease_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "IpamRelease_hostId_status_idx" ON "IpamRelease"("hostId", "status");

-- CreateIndex
CREATE INDEX "IpamRelease_networkId_createdAt_idx" ON "IpamRelease"("networkId", "createdAt");

-- AddForeignKey
ALTER TABLE "IpamRelease" ADD CONSTRAINT "IpamRelease_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "IpamRelease" ADD CONSTRAINT "IpamRelease_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

