-- Issue 11: the hosts' IPAM in the console. Leases are what each host holds now (one row per
-- host, network name and address, replaced by each report), HostIpamNetwork says how current a
-- host's picture of a network is, LeaseEvent is each address's history (purged after the time
-- kept), IpamReservation is what operators keep out of allocation.
-- No semicolons in these comments: Prisma's pg adapter splits a migration script on them.
-- CreateEnum
CREATE TYPE "LeaseEventKind" AS ENUM ('allocated', 'released', 'reclaimed', 'conflict', 'reserved', 'unreserved');

-- CreateTable
CREATE TABLE "Lease" (
    "id" BIGSERIAL NOT NULL,
    "hostId" TEXT NOT NULL,
    "networkName" TEXT NOT NULL,
    "networkId" TEXT,
    "address" INET NOT NULL,
    "containerId" TEXT NOT NULL DEFAULT '',
    "ifName" TEXT NOT NULL DEFAULT '',
    "attachmentId" TEXT,
    "seenIn" INTEGER NOT NULL,
    "since" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Lease_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "HostIpamNetwork" (
    "hostId" TEXT NOT NULL,
    "networkName" TEXT NOT NULL,
    "dataDir" TEXT NOT NULL DEFAULT '',
    "digest" TEXT NOT NULL DEFAULT '',
    "leaseCount" INTEGER NOT NULL DEFAULT 0,
    "findings" JSONB NOT NULL DEFAULT '[]',
    "reportedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HostIpamNetwork_pkey" PRIMARY KEY ("hostId","networkName")
);

-- CreateTable
CREATE TABLE "LeaseEvent" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "kind" "LeaseEventKind" NOT NULL,
    "networkName" TEXT NOT NULL,
    "address" INET NOT NULL,
    "hostId" TEXT,
    "hostName" TEXT NOT NULL DEFAULT '',
    "containerId" TEXT NOT NULL DEFAULT '',
    "ifName" TEXT NOT NULL DEFAULT '',
    "attachmentId" TEXT,
    "actorName" TEXT NOT NULL DEFAULT '',
    "detail" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "LeaseEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "IpamReservation" (
    "id" TEXT NOT NULL,
    "networkId" TEXT NOT NULL,
    "firstAddress" INET NOT NULL,
    "lastAddress" INET NOT NULL,
    "note" TEXT NOT NULL DEFAULT '',
    "createdById" TEXT,
    "createdByName" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "IpamReservation_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Lease_networkName_address_idx" ON "Lease"("networkName", "address");

-- CreateIndex
CREATE INDEX "Lease_networkId_address_idx" ON "Lease"("networkId", "address");

-- CreateIndex
CREATE INDEX "Lease_attachmentId_idx" ON "Lease"("attachmentId");

-- CreateIndex
CREATE INDEX "Lease_address_idx" ON "Lease"("address");

-- CreateIndex
CREATE UNIQUE INDEX "Lease_hostId_networkName_address_key" ON "Lease"("hostId", "networkName", "address");

-- CreateIndex
CREATE INDEX "HostIpamNetwork_networkName_idx" ON "HostIpamNetwork"("networkName");

-- CreateIndex
CREATE INDEX "LeaseEvent_networkName_address_at_idx" ON "LeaseEvent"("networkName", "address", "at");

-- CreateIndex
CREATE INDEX "LeaseEvent_address_at_idx" ON "LeaseEvent"("address", "at");

-- CreateIndex
CREATE INDEX "LeaseEvent_at_idx" ON "LeaseEvent"("at");

-- CreateIndex
CREATE INDEX "IpamReservation_networkId_idx" ON "IpamReservation"("networkId");

-- AddForeignKey
ALTER TABLE "Lease" ADD CONSTRAINT "Lease_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Lease" ADD CONSTRAINT "Lease_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Lease" ADD CONSTRAINT "Lease_attachmentId_fkey" FOREIGN KEY ("attachmentId") REFERENCES "Attachment"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "HostIpamNetwork" ADD CONSTRAINT "HostIpamNetwork_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "IpamReservation" ADD CONSTRAINT "IpamReservation_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network"("id") ON DELETE CASCADE ON UPDATE CASCADE;

